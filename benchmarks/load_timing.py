"""How accurate is the load generator's timing? Runs against the embedded mock and prints the client's
timing error against the mock's truth log, plus the load generator's CPU and event-loop lag.

    .venv/bin/python benchmarks/load_timing.py --users 1 64 256 --duration 8

The mock writes each chunk at known times (TTFT 200 ms, 20 ms per token, 50 tokens); the error is what
the client measured minus what the server logged (same CLOCK_MONOTONIC). Figures depend on how busy
the machine is: the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.instrument.truth import compare_run
from bench.load.runner import run_load
from tests.load.helpers import write_scenario


def monitor_figures(run_dir: Path) -> tuple[float, float, float]:
    rows = [
        orjson.loads(line)
        for p in (run_dir / "monitor").glob("*.jsonl")
        for line in p.read_bytes().splitlines()
    ]
    rows = rows[2:] or rows
    cpu = np.array([r["cpu_pct"] for r in rows] or [0.0])
    lag = np.array([r["loop_lag_ms"] for r in rows] or [0.0])
    return float(cpu.mean()), float(cpu.max()), float(np.percentile(lag, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--processes", type=int, default=0)
    args = parser.parse_args()
    print(
        "streams | requests | TTFT err p50/p99/max ms | ITL err p50/p99/max ms | LG cpu mean/max % | loop lag p99 ms | load avg"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for users in args.users:
            scenario = write_scenario(
                Path(tmp),
                name=f"t{users}",
                load={"users": users, "spawn_rate": max(users / 2, 1), "duration_s": args.duration},
            )
            outcome = run_load(
                scenario, results_dir=Path(tmp) / "results", progress=False, processes=args.processes
            )
            assert outcome.truth_log is not None
            report = compare_run(outcome.run_dir, outcome.truth_log)
            cpu_mean, cpu_max, lag = monitor_figures(outcome.run_dir)
            t, i = report.ttft, report.itl
            print(
                f"{users:7d} | {report.matched:8d} | {t.p50_ms:.2f} / {t.p99_ms:.2f} / {t.max_ms:.1f} | "
                f"{i.p50_ms:.2f} / {i.p99_ms:.2f} / {i.max_ms:.1f} | {cpu_mean:.0f} / {cpu_max:.0f} | {lag:.1f} | "
                f"{os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
