"""Outages: stretches of a run in which the target answered nothing but failures, said in one line.

Over the counted requests (``bench.analysis.selection``) in the order they were sent, an outage is a
run of consecutive failed requests, at least ``MIN_REQUESTS`` of them, lasting at least ``MIN_S``
seconds: from the start of its first failed request to the start of the next successful one, or to the
end of the offered load when none followed ("to the end"). It reads "target unreachable" when every
failure in it was at the connection level (the server could not be reached or sent nothing back),
and "target answered only errors" otherwise (it answered, with 5xx or broken bodies). A flaky server
whose failures are scattered among successes has no outage; its error rate says the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.analysis.frames import RecordFrame
from bench.analysis.selection import Selection

__all__ = ["CONNECTION_KINDS", "MIN_REQUESTS", "MIN_S", "Outage", "find_outages", "outage_share"]

MIN_REQUESTS = 3
MIN_S = 2.0
CONNECTION_KINDS = frozenset(
    {"connect_error", "connect_timeout", "connection_reset", "first_byte_timeout", "total_timeout"}
)
"""Failures that mean nothing usable came back: no connection, or a connection that answered nothing."""


@dataclass(frozen=True)
class Outage:
    start_s: float  # the first failed request of the stretch was sent (s from the run start)
    end_s: float | None  # the next successful request was sent; None: none was, to the end of the load
    requests: int
    kinds: dict[str, int]
    unreachable: bool  # every failure was at the connection level

    def describe(self) -> str:
        """``target unreachable from 12.3 s to the end (261 requests failed: connect_error 261)``."""
        what = "target unreachable" if self.unreachable else "target answered only errors"
        until = "the end" if self.end_s is None else f"{self.end_s:.1f} s"
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items(), key=lambda kv: -kv[1])[:3])
        return f"{what} from {self.start_s:.1f} s to {until} ({self.requests} requests failed: {kinds})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "requests": self.requests,
            "kinds": dict(self.kinds),
            "unreachable": self.unreachable,
            "message": self.describe(),
        }


def _load_end_s(frame: RecordFrame, selection: Selection) -> float:
    """Where an outage "to the end" ends: the end of the offered load, but never after the last request
    seen (a run whose schedule is only the planned one, such as records without a run.json, would
    otherwise stretch a few failures at its end over the time nobody sent anything)."""
    ends = frame.df["end_s"].to_numpy(dtype=np.float64)[selection.counted]
    last_s = float(ends.max()) if ends.size else 0.0
    end_s = selection.offered.end_s
    return min(end_s, last_s) if np.isfinite(end_s) else last_s


def outage_share(frame: RecordFrame, selection: Selection, outages: list[Outage]) -> float:
    """The share of the offered load's time (0..1) the target spent in ``outages``.

    Offered time runs from the offered window's start (or the first request) to its end (or the last
    answer); an outage "to the end" lasts until then. This is what the SLO gate judges (limit 0).
    """
    if not outages:
        return 0.0
    load_end_s = _load_end_s(frame, selection)
    starts = frame.df["start_s"].to_numpy(dtype=np.float64)[selection.counted]
    start_s = max(selection.offered.start_s, float(starts.min()))
    total_s = max(load_end_s - start_s, 1e-9)
    down_s = sum((load_end_s if o.end_s is None else o.end_s) - o.start_s for o in outages)
    return min(down_s / total_s, 1.0)


def find_outages(frame: RecordFrame, selection: Selection) -> list[Outage]:
    """The outages among the counted requests of ``selection`` (see the module docstring), in time order."""
    df = frame.df
    rows = np.flatnonzero(selection.counted)
    if rows.size == 0:
        return []
    start_s = df["start_s"].to_numpy(dtype=np.float64)[rows]
    order = np.argsort(start_s, kind="stable")
    rows, start_s = rows[order], start_s[order]
    ok = selection.ok[rows]
    kinds = df["error_kind"].astype(object).to_numpy()[rows]
    load_end_s = _load_end_s(frame, selection)
    # Runs of consecutive failures: boundaries where ok changes.
    edges = np.flatnonzero(np.diff(np.concatenate(([1], ok.astype(np.int8), [1]))))
    outages = []
    for first, stop in zip(edges[::2], edges[1::2], strict=True):  # failures are rows[first:stop]
        n = int(stop - first)
        until = float(start_s[stop]) if stop < rows.size else None
        length = (load_end_s if until is None else until) - float(start_s[first])
        if n < MIN_REQUESTS or length < MIN_S:
            continue
        values, counts = np.unique(kinds[first:stop].astype(str), return_counts=True)
        by_kind = {str(k): int(c) for k, c in zip(values, counts, strict=True)}
        outages.append(
            Outage(
                start_s=float(start_s[first]),
                end_s=until,
                requests=n,
                kinds=by_kind,
                unreachable=set(by_kind) <= CONNECTION_KINDS,
            )
        )
    return outages
