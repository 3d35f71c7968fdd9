"""Ground truth: how far the load generator's timestamps are from the moments the server actually wrote.

The embedded mock server can log, for every request, the monotonic time just before it wrote each content
chunk and the final ``[DONE]`` (``chatbench mock --truth-log PATH``; one JSON object per line, keyed by the
``X-Request-Id`` header the load generator sends). The mock and the load generator run on one machine and
read the same CLOCK_MONOTONIC, so a record's ``start_mono_s`` and the server's stamps are on one time axis.

The *client timing error* of one request is what the client measured minus what really happened, in ms:

    TTFT error   = ttft_ms   - (chunk_mono_s[0]   - start_mono_s) * 1000
    ITL error i  = itl_ms[i] - (chunk_mono_s[i+1] - chunk_mono_s[i]) * 1000
    E2E error    = e2e_ms    - (done_mono_s       - start_mono_s) * 1000

The last content chunk's arrival error (``ttft_ms + sum(itl_ms)`` against the server's last chunk) is
kept as a diagnostic: E2E error minus it is the time spent on the tail (finish chunk, ``[DONE]``).

TTFT and E2E errors are loopback transit plus whatever delay the client added before it stamped the
event; they are positive except for clock noise. ITL errors are differences of two such delays, so they
have either sign. ``compare`` summarises the absolute errors (p50, p99, max, using the one percentile
definition of ``bench.stats``) and lists requests it could not pair, both ways.

This is the one place where chatbench compares its timing with the truth: the ground-truth tests,
``chatbench calibrate`` and the side-by-side client benchmark all call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.errors import ResultsError
from bench.records import Record, read_jsonl, record_from_json
from bench.stats import percentile

__all__ = [
    "ErrorStats",
    "ServerTiming",
    "TruthReport",
    "compare",
    "compare_run",
    "read_records",
    "read_truth_log",
]


@dataclass(frozen=True, slots=True)
class ServerTiming:
    """What the mock server logged about one request (monotonic seconds)."""

    request_id: str
    recv_mono_s: float | None  # the request was fully read
    headers_mono_s: float | None  # just before the response headers were written
    chunk_mono_s: tuple[float, ...]  # just before each content chunk was written; empty if not streamed
    done_mono_s: float | None  # just before ``[DONE]`` (stream) or the body (non-stream) was written


def read_truth_log(path: str | Path) -> dict[str, ServerTiming]:
    """Read a mock truth log into ``{request_id: ServerTiming}``.

    Lines without a ``request_id`` (a request sent without the header) and a last line cut short by a
    stopped server are skipped.
    """
    p = Path(path)
    if not p.is_file():
        raise ResultsError(f"truth log not found: {p}")
    out: dict[str, ServerTiming] = {}
    rows, _ = read_jsonl([p])
    for row in rows:
        request_id = row.get("request_id")
        if not request_id:
            continue
        out[request_id] = ServerTiming(
            request_id=request_id,
            recv_mono_s=row.get("recv_mono_s"),
            headers_mono_s=row.get("headers_mono_s"),
            chunk_mono_s=tuple(row.get("chunk_mono_s") or ()),
            done_mono_s=row.get("done_mono_s"),
        )
    return out


def read_records(run_dir: str | Path) -> list[Record]:
    """Every record of a results directory, from ``records/*.jsonl`` (the files written during the run)."""
    files = sorted(Path(run_dir, "records").glob("*.jsonl"))
    if not files:
        raise ResultsError(f"no records/*.jsonl in {run_dir}")
    records = []
    for path in files:
        for line in path.read_bytes().splitlines():
            if line.strip():
                try:
                    records.append(record_from_json(line))
                except (orjson.JSONDecodeError, TypeError):
                    continue  # a line cut by a killed process
    return records


@dataclass(frozen=True)
class ErrorStats:
    """Summary of one kind of client timing error, in ms.

    ``p50_ms``, ``p99_ms`` and ``max_ms`` are of the absolute error; ``mean_ms`` is the signed mean
    (the bias: positive means the client saw events late).
    """

    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    @classmethod
    def of(cls, errors_ms: np.ndarray) -> ErrorStats:
        if errors_ms.size == 0:
            return cls(0, None, None, None, None)
        abs_ms = np.abs(errors_ms)
        return cls(
            count=int(errors_ms.size),
            p50_ms=percentile(abs_ms, 50),
            p99_ms=percentile(abs_ms, 99),
            max_ms=float(abs_ms.max()),
            mean_ms=float(errors_ms.mean()),
        )


@dataclass(frozen=True)
class TruthReport:
    """The client's timing error over the requests of a run that the truth log also holds."""

    matched: int  # successful records paired with a truth-log entry
    ttft: ErrorStats  # streamed requests
    itl: ErrorStats  # every gap of streamed requests whose chunk count matches the server's
    e2e: ErrorStats  # streamed and non-streamed requests
    last_chunk: ErrorStats  # arrival of each stream's last content chunk (ttft + sum of gaps): a diagnostic
    failed_records: int  # records with an error kind; not compared
    records_without_truth: tuple[str, ...]  # successful records the server never logged
    truth_without_record: tuple[str, ...]  # logged requests the load generator has no record of
    chunk_mismatch: tuple[str, ...]  # paired streams whose chunk count differs from the server's
    ttft_errors_ms: np.ndarray = field(repr=False, compare=False)  # signed, one per streamed request
    itl_errors_ms: np.ndarray = field(repr=False, compare=False)  # signed, one per gap
    e2e_errors_ms: np.ndarray = field(repr=False, compare=False)  # signed, one per request

    @property
    def worst_p99_ms(self) -> float | None:
        """The largest of the TTFT, ITL and E2E p99 absolute errors (None when nothing was compared)."""
        values = [s.p99_ms for s in (self.ttft, self.itl, self.e2e) if s.p99_ms is not None]
        return max(values) if values else None

    def within(self, limit_ms: float) -> bool:
        """True when something was compared and every p99 absolute error is at most ``limit_ms``."""
        worst = self.worst_p99_ms
        return worst is not None and worst <= limit_ms

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-request arrays; unmatched ids are counted, not listed)."""
        return {
            "matched": self.matched,
            "ttft": asdict(self.ttft),
            "itl": asdict(self.itl),
            "e2e": asdict(self.e2e),
            "last_chunk": asdict(self.last_chunk),
            "worst_p99_ms": self.worst_p99_ms,
            "failed_records": self.failed_records,
            "records_without_truth": len(self.records_without_truth),
            "truth_without_record": len(self.truth_without_record),
            "chunk_mismatch": len(self.chunk_mismatch),
        }

    def summary_line(self) -> str:
        """One line for people: p99 of each error and what could not be paired."""

        def fmt(stats: ErrorStats) -> str:
            return "n/a" if stats.p99_ms is None else f"{stats.p99_ms:.3f}"

        line = (
            f"{self.matched} requests: p99 |error| ms TTFT {fmt(self.ttft)}, ITL {fmt(self.itl)}, "
            f"E2E {fmt(self.e2e)}"
        )
        unpaired = []
        if self.records_without_truth:
            unpaired.append(f"{len(self.records_without_truth)} records not in the truth log")
        if self.truth_without_record:
            unpaired.append(f"{len(self.truth_without_record)} logged requests without a record")
        if self.chunk_mismatch:
            unpaired.append(f"{len(self.chunk_mismatch)} streams with a different chunk count")
        return line + ("; " + ", ".join(unpaired) if unpaired else "")


def compare(records: Iterable[Record], truth: Mapping[str, ServerTiming]) -> TruthReport:
    """Pair ``records`` with ``truth`` by request id and measure the client's timing error.

    Only successful records are compared. TTFT and ITL are compared for streamed records; ITL only when
    the record has as many content chunks as the server wrote (otherwise the gaps cannot be paired and
    the request id is listed in ``chunk_mismatch``). E2E is compared for every successful record.
    """
    ttft_err: list[float] = []
    e2e_err: list[float] = []
    itl_err: list[np.ndarray] = []
    last_err: list[float] = []
    seen: set[str] = set()
    failed = matched = 0
    no_truth: list[str] = []
    mismatch: list[str] = []
    for rec in records:
        seen.add(rec.request_id)
        if not rec.ok:
            failed += 1
            continue
        server = truth.get(rec.request_id)
        if server is None:
            no_truth.append(rec.request_id)
            continue
        matched += 1
        start = rec.start_mono_s
        if rec.e2e_ms is not None and server.done_mono_s is not None:
            e2e_err.append(rec.e2e_ms - (server.done_mono_s - start) * 1000.0)
        if not rec.stream or not server.chunk_mono_s:
            continue
        if rec.ttft_ms is not None:
            ttft_err.append(rec.ttft_ms - (server.chunk_mono_s[0] - start) * 1000.0)
        if rec.chunks != len(server.chunk_mono_s) or len(rec.itl_ms) != rec.chunks - 1:
            mismatch.append(rec.request_id)
            continue
        if rec.ttft_ms is not None:
            last_client_s = start + (rec.ttft_ms + sum(rec.itl_ms)) / 1000.0
            last_err.append((last_client_s - server.chunk_mono_s[-1]) * 1000.0)
        if len(rec.itl_ms) > 0:
            server_gaps_ms = np.diff(np.asarray(server.chunk_mono_s, dtype="float64")) * 1000.0
            itl_err.append(np.frombuffer(rec.itl_ms, dtype="float64") - server_gaps_ms)
    ttft_a = np.asarray(ttft_err, dtype="float64")
    e2e_a = np.asarray(e2e_err, dtype="float64")
    itl_a = np.concatenate(itl_err) if itl_err else np.empty(0, dtype="float64")
    return TruthReport(
        matched=matched,
        ttft=ErrorStats.of(ttft_a),
        itl=ErrorStats.of(itl_a),
        e2e=ErrorStats.of(e2e_a),
        last_chunk=ErrorStats.of(np.asarray(last_err, dtype="float64")),
        failed_records=failed,
        records_without_truth=tuple(no_truth),
        truth_without_record=tuple(rid for rid in truth if rid not in seen),
        chunk_mismatch=tuple(mismatch),
        ttft_errors_ms=ttft_a,
        itl_errors_ms=itl_a,
        e2e_errors_ms=e2e_a,
    )


def compare_run(run_dir: str | Path, truth_log: str | Path) -> TruthReport:
    """``compare`` the records of a results directory with a mock truth log."""
    return compare(read_records(run_dir), read_truth_log(truth_log))
