"""Which requests count: the one definition every figure and verdict uses (summary, report, gate, compare).

``select(frame, schedule, window)`` returns a ``Selection`` of boolean row masks over the record frame:

- ``counted``: every request the run sent, which is every request that started while load was offered
  (the load generator sends nothing else; clocks of other hosts and the last user stopping a moment
  after the shape did are no reason to drop one), except those the run itself cancelled when it ended
  (``error_kind == "cancelled"``: not answers of the server) and those the scenario abandoned on
  purpose (``client_cancelled``, ``load.cancel``: counted apart in ``client_cancelled``). Error rate, error counts and the error
  breakdown are over these, so an outage in the middle or at the end of a run is counted in full;
- ``in_window``: the counted requests that *ended* inside the steady-state window (or the ``--window``
  the user gave). Latency percentiles are over the successful ones among them; throughput is over the
  window's exact length (``bench.analysis.metrics.throughput``);
- what the window left out (counted, but not ended inside it: the ramp, the warm-up, the drain) is
  ``left_out`` and is shown by the summary, the report and the gate, so nothing falls out of sight.

Nothing else in chatbench decides which requests count; build on this module instead of filtering
records again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis.frames import RecordFrame, load_json
from bench.analysis.window import (
    Schedule,
    Window,
    manual_window,
    offered_window,
    parse_window,
    schedule_from_run,
    steady_window,
)

__all__ = ["Selection", "WindowSpec", "run_schedule", "select", "select_run"]

WindowSpec = str | tuple[float | None, float | None] | None
"""``None`` or ``"steady"``: the steady-state window of the schedule; ``"whole"``: every request of the
run; ``"START:END"`` or a pair: seconds from the run start, as ``--window``."""


@dataclass(frozen=True)
class Selection:
    """Which requests of a frame count for what (see the module docstring)."""

    window: Window  # latency and throughput: counted requests that ended inside it
    offered: Window  # error rate and counts: requests that started inside it
    schedule: Schedule | None
    counted: np.ndarray  # bool per row: sent by the run and not cancelled by it
    in_window: np.ndarray  # bool per row: counted and ended inside ``window``
    ok: np.ndarray  # bool per row: the request succeeded
    cancelled: int  # requests the run cancelled when it ended (left out of everything)
    client_cancelled: int = 0  # requests the scenario abandoned on purpose (counted apart)

    @property
    def requests(self) -> int:
        """Counted requests (the error rate's denominator)."""
        return int(self.counted.sum())

    @property
    def failed(self) -> int:
        return int((self.counted & ~self.ok).sum())

    @property
    def error_rate(self) -> float | None:
        """failed / counted requests, a fraction; None when nothing was counted."""
        return self.failed / self.requests if self.requests else None

    @property
    def window_requests(self) -> int:
        return int(self.in_window.sum())

    @property
    def latency_mask(self) -> np.ndarray:
        """Successful requests that ended inside the window: what every latency percentile is over."""
        return self.in_window & self.ok

    def left_out(self) -> dict[str, int]:
        """Counted requests the window left out (ramp, warm-up, drain), how many of them failed, and the
        requests counted nowhere (cancelled by the run when it ended)."""
        out = self.counted & ~self.in_window
        return {
            "requests": int(out.sum()),
            "failed": int((out & ~self.ok).sum()),
            "cancelled": self.cancelled,
        }

    def describe(self) -> str:
        """Which window the latency figures are over, in a few words (for the gate and compare)."""
        win = self.window
        if win.source == "whole_run":
            return "whole run"
        kind = "steady-state window" if win.source == "schedule" else "window"
        return f"{kind} {win.start_s:.1f}-{win.end_s:.1f} s"

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.window.to_dict(),
            "offered": {"start_s": self.offered.start_s, "end_s": _finite(self.offered.end_s)},
            "schedule": None if self.schedule is None else self.schedule.to_dict(),
            "requests": self.window_requests,
            "left_out": self.left_out(),
        }


def select(frame: RecordFrame, schedule: Schedule | None, window: WindowSpec = None) -> Selection:
    """The ``Selection`` of ``frame`` under ``schedule`` with ``window`` (see ``WindowSpec``)."""
    df = frame.df
    start_s = df["start_s"].to_numpy(dtype=np.float64)
    end_s = df["end_s"].to_numpy(dtype=np.float64)
    ok = df["ok"].to_numpy(dtype=bool)
    run_end_s = float(max(end_s.max(), start_s.max())) if len(df) else 0.0
    kinds = df["error_kind"]
    not_cancelled = np.array(kinds != "cancelled", dtype=bool)
    on_purpose = np.array(kinds == "client_cancelled", dtype=bool)

    offered = offered_window(schedule)
    counted = not_cancelled & ~on_purpose

    if window == "whole":
        win = Window(0.0, run_end_s, "whole_run")
    elif window is None or window == "steady":
        win = steady_window(schedule, run_end_s)
    else:
        bounds = parse_window(window) if isinstance(window, str) else window
        win = manual_window(bounds[0], bounds[1], run_end_s)
    if win.source == "whole_run":
        inside = np.ones(len(df), dtype=bool)  # the last request ends exactly at run_end_s: keep it
    else:
        inside = (end_s >= win.start_s) & (end_s < win.end_s)
    return Selection(
        window=win,
        offered=offered,
        schedule=schedule,
        counted=counted,
        in_window=counted & inside,
        ok=ok,
        cancelled=int((~not_cancelled).sum()),
        client_cancelled=int(on_purpose.sum()),
    )


def run_schedule(
    frame: RecordFrame, run_info: Mapping[str, Any], scenario: Mapping[str, Any]
) -> Schedule | None:
    """The offered load's schedule of the run ``frame`` was read from (``run.json`` + ``scenario.json``)."""
    df = frame.df
    has = len(df) > 0
    return schedule_from_run(
        run_info,
        scenario,
        t0_s=frame.t0_s,
        first_start_s=float(df["start_s"].min()) if has else None,
        last_end_s=float(df["end_s"].max()) if has else None,
    )


def select_run(run_dir: str | Path, frame: RecordFrame, window: WindowSpec = None) -> Selection:
    """``select`` with the schedule read from the results directory ``run_dir`` of ``frame``."""
    run_dir = Path(run_dir)
    schedule = run_schedule(frame, load_json(run_dir / "run.json"), load_json(run_dir / "scenario.json"))
    return select(frame, schedule, window)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
