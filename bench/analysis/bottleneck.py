"""Is the load generator itself the bottleneck? Reads ``monitor/<worker>.jsonl`` of a run.

The load generator samples, once a second per process, its CPU use (% of one core) and its event-loop
lag (how late a 100 ms gevent sleep woke up). Measured on this machine with the best clients
(`shared/research/client-bench.md`): the p99 timestamp error stayed within about 2 ms below 30 % of a
core and about 8 ms below 50 %, and exploded above that. So a run is marked "timing may be inflated"
when a load-generator process spent more than ``CPU_LIMIT_PCT`` of a core, or its loop lag p99 exceeded
``LAG_LIMIT_MS``, during the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.analysis.stats import percentile

__all__ = ["CPU_LIMIT_PCT", "LAG_LIMIT_MS", "LoadgenHealth", "assess"]

CPU_LIMIT_PCT = 50.0
LAG_LIMIT_MS = 5.0


@dataclass(frozen=True)
class LoadgenHealth:
    """What the monitor saw of the load generator during a run."""

    samples: int
    cpu_mean_pct: float | None
    cpu_peak_pct: float | None  # highest 1-second sample of any one process
    loop_lag_p99_ms: float | None
    inflated: bool  # timing may be inflated by the load generator itself
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(run_dir: str | Path, *, skip_first_s: float = 2.0) -> LoadgenHealth:
    """Read the monitor files of ``run_dir``; the first ``skip_first_s`` seconds (start-up) are ignored."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(run_dir, "monitor").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a line cut by a killed process
    if not rows:
        return LoadgenHealth(0, None, None, None, False, "no load-generator monitor data")
    t0 = min(r["t_s"] for r in rows)
    steady = [r for r in rows if r["t_s"] - t0 >= skip_first_s] or rows
    cpu = [float(r["cpu_pct"]) for r in steady if r.get("cpu_pct") is not None]
    lag = [float(r["loop_lag_ms"]) for r in steady if r.get("loop_lag_ms") is not None]
    cpu_mean = sum(cpu) / len(cpu) if cpu else None
    cpu_peak = max(cpu) if cpu else None
    lag_p99 = percentile(lag, 99) if lag else None
    reasons = []
    if cpu_peak is not None and cpu_peak > CPU_LIMIT_PCT:
        reasons.append(f"load-generator CPU reached {cpu_peak:.0f}% of a core (limit {CPU_LIMIT_PCT:.0f}%)")
    if lag_p99 is not None and lag_p99 > LAG_LIMIT_MS:
        reasons.append(f"event-loop lag p99 {lag_p99:.1f} ms (limit {LAG_LIMIT_MS:.0f} ms)")
    inflated = bool(reasons)
    message = (
        "timing may be inflated: "
        + "; ".join(reasons)
        + " — add worker processes (--processes) or lower the load"
        if inflated
        else "load generator kept up"
    )
    return LoadgenHealth(len(steady), cpu_mean, cpu_peak, lag_p99, inflated, message)
