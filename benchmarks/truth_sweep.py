"""The full ground-truth sweep: chatbench's timing error against the mock's truth log at rising load.

For each level of concurrent streams it runs chatbench's own load generator (one process) against the
embedded mock, paced at 100 ms to the first token and 20 ms between chunks with 32 chunks per answer,
for a fixed window after the ramp and a warm-up. It compares every record with the mock's log
(``bench.instrument.truth``) and prints one table row per level: chunks/s, load-generator CPU (from its monitor),
p50 / p99 / max of the absolute error of TTFT, inter-chunk gaps and E2E, the other load measured on the
machine, and the run's bottleneck verdict (``bench.analysis.bottleneck``). The rows also show where the
bottleneck thresholds come from: the error against the load generator's CPU.

Before each level it waits (at most ``--quiet-wait-s``) for the machine to be nearly idle, because the
machine may be shared; the "other load" column says how far that worked.

    .venv/bin/python benchmarks/truth_sweep.py                    # 1, 64, 256 streams
    .venv/bin/python benchmarks/truth_sweep.py --levels 1,64,256,512,768 --window-s 15 --json sweep.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from priority import add_priority_arguments, apply_priority

from bench.analysis.bottleneck import assess
from bench.instrument.calibrate import CalibrationSettings, run_step
from bench.instrument.cpu import wait_for_quiet


def _cell(stats: dict[str, Any]) -> str:
    if stats["p99_ms"] is None:
        return "n/a"
    return f"{stats['p50_ms']:.2f} / {stats['p99_ms']:.2f} / {stats['max_ms']:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,64,256", help="concurrent streams, comma-separated")
    parser.add_argument("--window-s", type=float, default=10.0, help="measured window per level")
    parser.add_argument("--quiet-wait-s", type=float, default=60.0, help="longest wait for an idle machine")
    add_priority_arguments(parser)
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()
    apply_priority(args)
    settings = CalibrationSettings(step_s=args.window_s, ramp_s=1.0, warmup_s=2.0, error_limit_ms=1.0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="chatbench-truth-") as tmp:
        for streams in (int(x) for x in args.levels.split(",")):
            busy_before = wait_for_quiet(args.quiet_wait_s)
            step, run_dir = run_step("stream", streams, settings, Path(tmp))
            health = assess(run_dir)
            row = {**step.to_dict(), "busy_before_cores": busy_before, "loadgen": health.to_dict()}
            rows.append(row)
            print(
                f"# {streams} streams: worst p99 {step.worst_p99_ms:.2f} ms, CPU {step.lg_cpu_pct or 0:.0f} %, "
                f"other load {step.foreign_cores or 0:.2f} cores (before: {busy_before:.2f})",
                flush=True,
            )
    print()
    print(
        "| streams | chunks/s | LG CPU % | TTFT |err| p50 / p99 / max ms | ITL |err| p50 / p99 / max ms "
        "| E2E |err| p50 / p99 / max ms | last chunk |err| p50 / p99 ms | requests | other load (cores) | bottleneck verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["truth"]
        print(
            f"| {r['users']} | {r['chunks_per_s']:,.0f} | {r['lg_cpu_pct'] or 0:.1f} | {_cell(t['ttft'])} "
            f"| {_cell(t['itl'])} | {_cell(t['e2e'])} "
            f"| {t['last_chunk']['p50_ms'] or 0:.2f} / {t['last_chunk']['p99_ms'] or 0:.2f} | {r['requests']} | {r['foreign_cores'] or 0:.2f} "
            f"| {r['loadgen']['level']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
