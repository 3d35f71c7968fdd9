"""Is the load generator itself the bottleneck? Reads ``monitor/<worker>.jsonl`` of a run.

The load generator samples, once a second per process, its CPU use (% of one core), its event-loop
lag (the latest that one of the second's back-to-back 10 ms gevent sleeps woke up) and its major page
faults. A client that is short of CPU stamps chunks late, and the
report would blame the server (vLLM #39963, GuideLLM #487). chatbench's own load generator, measured
against the mock's ground truth on this 2-vCPU machine (``benchmarks/truth_sweep.py --rt``, see
``docs/calibrate.md``): p99 timing error of TTFT, inter-chunk gaps and E2E within 0.83 ms at 24 % of a
core (64 streams), 1.7-2.5 ms at 61 % (256 streams; 10 ms when closed-loop users run in lock-step),
50-80 ms at 95 % (512 streams). Locust itself warns only at 90 %, where the error is already near 100 ms.

The verdict, per load-generator process, over the samples after the first ``skip_first_s`` seconds:

- *sustained CPU* = the 90th percentile of its 1-second CPU samples (the highest sample when it has
  fewer than 5), so a single spike (a GC pass, a file flush) does not condemn a whole run;
- **inflated** ("timing may be inflated") when any process's sustained CPU exceeds ``CPU_LIMIT_PCT``,
  or the p99 of the loop-lag samples exceeds ``LAG_LIMIT_MS``: a late wake-up is a late timestamp,
  whatever the cause (own CPU, or another program on a shared machine taking the core);
- **caution** when the sustained CPU is above ``CPU_CAUTION_PCT``: timing errors of a few ms are then
  possible (above 1 ms from about 25-30 %), so the message says so, but the run is not marked inflated;
- otherwise "load generator kept up".

Apart from the level, ``stall`` names the longest stall of any process when it was above
``STALL_NOTE_MS`` (a blocking call, a page of code read back from disk): the requests in flight then
carry up to that much timing error, which one stall in a long run is too short to move into its p99.
The summary lists it among its warnings, with the major page faults of that second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from bench.stats import percentile

__all__ = [
    "CPU_CAUTION_PCT",
    "CPU_LIMIT_PCT",
    "LAG_LIMIT_MS",
    "STALL_NOTE_MS",
    "LoadgenHealth",
    "assess",
    "read_monitor",
]

CPU_LIMIT_PCT = 50.0
CPU_CAUTION_PCT = 30.0
LAG_LIMIT_MS = 5.0
STALL_NOTE_MS = 50.0
SUSTAINED_PERCENTILE = 90.0
MIN_SAMPLES_FOR_PERCENTILE = 5

Level = Literal["unknown", "ok", "caution", "inflated"]


@dataclass(frozen=True)
class LoadgenHealth:
    """What the monitor saw of the load generator during a run."""

    samples: int
    cpu_mean_pct: float | None
    cpu_peak_pct: float | None  # highest 1-second sample of any one process
    loop_lag_p99_ms: float | None
    inflated: bool  # timing may be inflated by the load generator itself
    message: str
    cpu_sustained_pct: float | None = None  # the highest per-process sustained CPU (p90 of its samples)
    workers: int = 0  # load-generator processes with monitor data
    level: Level = "unknown"
    loop_lag_max_ms: float | None = None  # the longest stall of any process in the steady samples
    majflt: int | None = None  # major page faults of every process over the steady samples
    stall: str | None = None  # the longest stall, when above STALL_NOTE_MS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_monitor(run_dir: Path) -> list[dict[str, Any]]:
    """Every sample line of ``monitor/<worker>.jsonl``, a line cut by a killed process skipped."""
    rows: list[dict[str, Any]] = []
    for path in sorted(run_dir.joinpath("monitor").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line cut by a killed process
            if isinstance(row, dict) and isinstance(row.get("t_s"), (int, float)):
                row.setdefault("worker", path.stem)
                rows.append(row)
    return rows


def _sustained(cpu: list[float]) -> float:
    if len(cpu) < MIN_SAMPLES_FOR_PERCENTILE:
        return max(cpu)
    value = percentile(cpu, SUSTAINED_PERCENTILE)
    return max(cpu) if value is None else value


def assess(run_dir: str | Path, *, skip_first_s: float = 2.0) -> LoadgenHealth:
    """Read the monitor files of ``run_dir``; each process's first ``skip_first_s`` seconds are ignored."""
    rows = read_monitor(Path(run_dir))
    if not rows:
        return LoadgenHealth(0, None, None, None, False, "no load-generator monitor data")
    by_worker: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_worker.setdefault(str(row["worker"]), []).append(row)
    steady: list[dict[str, Any]] = []
    sustained: dict[str, float] = {}
    for worker, worker_rows in by_worker.items():
        t0 = min(r["t_s"] for r in worker_rows)
        kept = [r for r in worker_rows if r["t_s"] - t0 >= skip_first_s] or worker_rows
        steady += kept
        cpu_w = [float(r["cpu_pct"]) for r in kept if r.get("cpu_pct") is not None]
        if cpu_w:
            sustained[worker] = _sustained(cpu_w)
    cpu = [float(r["cpu_pct"]) for r in steady if r.get("cpu_pct") is not None]
    lag = [float(r["loop_lag_ms"]) for r in steady if r.get("loop_lag_ms") is not None]
    cpu_mean = sum(cpu) / len(cpu) if cpu else None
    cpu_peak = max(cpu) if cpu else None
    lag_p99 = percentile(lag, 99) if lag else None
    worst = max(steady, key=lambda r: float(r.get("loop_lag_ms") or 0.0))
    lag_max = float(worst["loop_lag_ms"]) if worst.get("loop_lag_ms") is not None else None
    faults = [int(r["majflt"]) for r in steady if isinstance(r.get("majflt"), int)]
    majflt = sum(faults) if faults else None
    worst_worker = max(sustained, key=lambda w: sustained[w]) if sustained else None
    cpu_sustained = sustained[worst_worker] if worst_worker is not None else None
    where = f" ({worst_worker})" if len(by_worker) > 1 and worst_worker is not None else ""

    reasons = []
    if cpu_sustained is not None and cpu_sustained > CPU_LIMIT_PCT:
        reasons.append(
            f"a load-generator process{where} used {cpu_sustained:.0f}% of a core "
            f"(p90 of its 1-s samples; limit {CPU_LIMIT_PCT:.0f}%)"
        )
    if lag_p99 is not None and lag_p99 > LAG_LIMIT_MS:
        reasons.append(f"its event-loop lag p99 was {lag_p99:.1f} ms (limit {LAG_LIMIT_MS:.0f} ms)")
    level: Level
    if reasons:
        level = "inflated"
        message = (
            "timing may be inflated: "
            + "; ".join(reasons)
            + ". Add worker processes (--processes), lower the load, or free the machine's CPU"
        )
    elif cpu_sustained is not None and cpu_sustained > CPU_CAUTION_PCT:
        level = "caution"
        message = (
            f"load generator kept up, but a process{where} used {cpu_sustained:.0f}% of a core: "
            f"timing errors of a few ms are possible above {CPU_CAUTION_PCT:.0f}%"
        )
    else:
        level = "ok"
        message = "load generator kept up"
    stall = None
    if lag_max is not None and lag_max > STALL_NOTE_MS:
        faults_then = f", with {worst['majflt']} major page faults that second" if worst.get("majflt") else ""
        stall = (
            f"load generator {worst['worker']} stalled for {lag_max:.0f} ms{faults_then}: the requests "
            "in flight then carry up to that much timing error"
        )
    return LoadgenHealth(
        samples=len(steady),
        cpu_mean_pct=cpu_mean,
        cpu_peak_pct=cpu_peak,
        loop_lag_p99_ms=lag_p99,
        inflated=level == "inflated",
        message=message,
        cpu_sustained_pct=cpu_sustained,
        workers=len(by_worker),
        level=level,
        loop_lag_max_ms=lag_max,
        majflt=majflt,
        stall=stall,
    )
