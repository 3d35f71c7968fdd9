"""`chatbench calibrate`: how much load one load-generator process sustains on this machine.

It runs the embedded mock and chatbench's own load generator on 127.0.0.1 in short bounded steps
(``bench.instrument.calibrate``), checks every step against the mock's ground truth, and prints the most
concurrent streams, streamed chunks/s and non-streamed requests/s one process sustains while the p99
timing error stays within 1 ms, and how many ``--processes`` a target load needs.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from bench.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="fewer, shorter steps: about 40 s instead of 2-3 minutes"
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the figures and every step here"
    )
    parser.add_argument(
        "--target-streams",
        type=float,
        metavar="N",
        help="say how many processes N concurrent streams (at about 50 chunks/s each) need",
    )
    parser.add_argument(
        "--target-rps", type=float, metavar="R", help="say how many processes R non-streamed requests/s need"
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep every step's results directory under DIR"
    )


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _p99(step: Any, key: str) -> str:
    return _fmt(step.truth[key]["p99_ms"])


def print_steps(calibration: Any) -> None:
    """The table of every step that ran."""
    head = (
        f"{'mode':<10}{'level':>6}{'in flight':>10}{'req/s':>9}{'chunks/s':>10}{'LG CPU %':>10}"
        f"{'p99 |err| ms TTFT / ITL / E2E':>32}{'failed':>8}{'other load':>12}  verdict"
    )
    print(head)
    for s in calibration.steps:
        errors = f"{_p99(s, 'ttft')} / {_p99(s, 'itl')} / {_p99(s, 'e2e')}"
        chunks = _fmt(s.chunks_per_s, ",.0f") if s.mode == "stream" else ""
        # Clamped at 0: CPU accounting noise makes a quiet machine read as a few hundredths below.
        other = _fmt(max(s.foreign_cores, 0.0)) + " cores" if s.foreign_cores is not None else "-"
        print(
            f"{s.mode:<10}{s.users:>6}{s.in_flight:>10.1f}{s.requests_per_s:>9,.0f}{chunks:>10}{_fmt(s.lg_cpu_pct, '.0f'):>10}"
            f"{errors:>32}{s.failed:>8}{other:>12}  {'ok' if s.passed else 'over the limit'}"
        )


def print_verdict(result: dict[str, Any], args: argparse.Namespace) -> None:
    from bench.instrument.calibrate import processes_needed

    limit = result["error_limit_ms"]
    stream, nonstream = result["stream"], result["nonstream"]
    print()
    print(
        f"One load-generator process on this machine ({result['cpu_count']} CPUs), p99 timing error <= {limit:g} ms:"
    )
    if stream["max_streams"]:
        more = " (the highest level tried: it may sustain more)" if stream["limited_by_levels"] else ""
        print(
            f"  streamed:     {stream['max_streams']} concurrent streams, "
            f"{stream['chunks_per_s']:,.0f} chunks/s{more}"
        )
    else:
        print("  streamed:     not even the lowest level stayed within the limit (see the table)")
    if nonstream["max_concurrency"]:
        more = " (the highest level tried: it may sustain more)" if nonstream["limited_by_levels"] else ""
        print(
            f"  non-streamed: {nonstream['requests_per_s']:,.0f} requests/s "
            f"({nonstream['max_concurrency']} concurrent){more}"
        )
    else:
        print("  non-streamed: not even the lowest level stayed within the limit (see the table)")
    print()
    if stream["max_streams"]:
        n = args.target_streams
        if n:
            print(f"  {n:g} streams need --processes {processes_needed(n, stream['max_streams'])}")
        else:
            print(
                f"  processes for N streams = ceil(N / {stream['max_streams']}); "
                f"for C chunks/s = ceil(C / {stream['chunks_per_s']:,.0f})"
            )
    if nonstream["max_concurrency"]:
        r = args.target_rps
        if r:
            print(f"  {r:g} requests/s need --processes {processes_needed(r, nonstream['requests_per_s'])}")
        else:
            print(f"  processes for R requests/s = ceil(R / {nonstream['requests_per_s']:,.0f})")
    print(
        f"  (each process wants a core of its own: use at most {max(result['cpu_count'] - 1, 1)} here, "
        "leaving one for the server if it runs on this machine)"
    )
    for note in result["notes"]:
        print(f"  note: {note}")


def run(args: argparse.Namespace) -> int:
    from bench.instrument.calibrate import CalibrationSettings, run_calibration

    for name in ("target_streams", "target_rps"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, not {value:g}")
    settings = CalibrationSettings.quick() if args.quick else CalibrationSettings()
    print(
        f"chatbench calibrate: stepping up load against the embedded mock on 127.0.0.1 "
        f"(at most {settings.budget_s:.0f} s)",
        flush=True,
    )

    def progress(step: Any) -> None:
        what = (
            f"{step.chunks_per_s:,.0f} chunks/s"
            if step.chunks_per_s is not None
            else f"{step.requests_per_s:,.0f} req/s"
        )
        worst = _fmt(step.worst_p99_ms)
        print(f"  {step.mode} {step.users} in flight: {what}, worst p99 error {worst} ms", flush=True)

    calibration = run_calibration(settings, work_dir=args.keep, progress=progress)
    result = calibration.to_dict()
    print()
    print_steps(calibration)
    print_verdict(result, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nchatbench: figures written to {args.json}")
    return 0
