"""`chatbench capacity SCENARIO`: sweep load levels, find the highest load within SLOs, plan replicas.

``chatbench capacity DIR`` (a finished capacity directory) re-analyses it without sending load, for
instance with other SLOs or another planning target. See ``docs/capacity.md``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.gates.overrides import add_slo_arguments, slo_overrides_from_args


def _levels(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected numbers separated by commas, e.g. 1,2,4,8"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one level, e.g. 1,2,4,8")
    return values


def _seconds(text: str) -> float:
    from bench.scenario.cli_options import parse_duration

    return parse_duration(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sweep shape, planning target, SLO overrides, target server."""
    parser.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="scenario YAML file to sweep, or a capacity results directory to re-analyse",
    )
    sweep = parser.add_argument_group("sweep (default: the scenario's sweep block)")
    sweep.add_argument("--levels", type=_levels, metavar="L1,L2,...", help="load levels, e.g. 1,2,4,8,16")
    sweep.add_argument(
        "--mode",
        choices=("concurrency", "rate"),
        help="concurrency: levels are users (closed loop); rate: levels are arrivals per second (open loop)",
    )
    sweep.add_argument(
        "--step-duration", type=_seconds, metavar="TIME", help="measured time per step (after warm-up)"
    )
    sweep.add_argument("--warmup", type=float, metavar="S", help="seconds at the start of each step left out")
    plan = parser.add_argument_group("planning (default: the scenario's planning block)")
    plan.add_argument("--target-users", type=int, metavar="N", help="users the whole service must carry")
    plan.add_argument(
        "--target-rps", type=float, metavar="RPS", help="requests per second the service must carry"
    )
    plan.add_argument(
        "--headroom", type=float, metavar="F", help="spare capacity kept per server (default 0.2 = 20%%)"
    )
    target = parser.add_argument_group("target")
    target.add_argument(
        "--host", metavar="URL", help="server base URL (default: the scenario's, else the embedded mock)"
    )
    target.add_argument("--model", help="model name sent in each request")
    from bench.profiles import profile_names

    target.add_argument("--profile", choices=profile_names(), help="request profile")
    parser.add_argument(
        "--processes", type=int, default=0, metavar="N", help="load-generator processes per step"
    )
    parser.add_argument(
        "--results-dir", default="results", metavar="DIR", help="parent of the capacity directory"
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="capacity directory (default: capacity-<name>-<time>)"
    )
    add_slo_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bench.capacity.sweep import analyze_steps, reanalyze, resolve_sweep, run_sweep
    from bench.gates.overrides import effective_slo
    from bench.report.capacity_report import format_capacity, write_capacity_report

    overrides = slo_overrides_from_args(args)
    if args.target_users is not None and args.target_rps is not None:
        raise UsageError("give --target-users or --target-rps, not both")
    source = Path(args.scenario)
    planning = None
    if source.is_dir():
        record = reanalyze(source, overrides)
        name, settings, slo, steps, planning = (
            record.scenario,
            record.settings,
            record.slo,
            record.steps,
            record.planning,
        )
        out, stopped = source, None
        target_users, target_rps, headroom = _planning(args, planning, settings.mode)
        if any(x is not None for x in (args.levels, args.mode, args.step_duration, args.warmup)):
            raise UsageError(
                "--levels, --mode, --step-duration and --warmup apply to a new sweep, not to a directory"
            )
    else:
        from bench.scenario.loader import load_scenario

        base = {k: getattr(args, k) for k in ("host", "model", "profile") if getattr(args, k) is not None}
        scenario = load_scenario(source, base)
        planning = scenario.planning.to_dict() if scenario.planning else None
        settings = resolve_sweep(
            scenario.sweep,
            mode=args.mode,
            levels=args.levels,
            step_duration_s=args.step_duration,
            warmup_s=args.warmup,
        )
        if settings.mode == "concurrency" and scenario.load.arrival is not None:
            raise UsageError(
                f"{source}: the scenario is open loop (load.arrival); sweep it with --mode rate, "
                "or remove load.arrival for a concurrency sweep"
            )
        slo = effective_slo(scenario.slo, overrides)
        name = scenario.name
        target_users, target_rps, headroom = _planning(args, planning, settings.mode)
        out, steps, stopped = run_sweep(
            source,
            settings,
            slo,
            scenario_name=name,
            results_dir=args.results_dir,
            base_overrides=base,
            processes=args.processes,
            capacity_dir=args.out,
            planning=planning,
        )
    result = analyze_steps(
        steps,
        settings,
        slo,
        scenario=name,
        target_users=target_users,
        target_rps=target_rps,
        headroom=headroom,
        stopped_early=stopped if stopped != "interrupted" else None,
    )
    paths = write_capacity_report(result, out)
    print(format_capacity(result))
    print(f"wrote {paths['html']}, {paths['markdown'].name} and {paths['json'].name}")
    return 130 if stopped == "interrupted" else 0


def _planning(
    args: argparse.Namespace, planning: Mapping[str, Any] | None, mode: str
) -> tuple[int | None, float | None, float]:
    """The planning target and headroom (flags over the scenario's block), checked before any load is sent."""
    target_users, target_rps = args.target_users, args.target_rps
    if target_users is None and target_rps is None and planning:
        target_users, target_rps = planning.get("target_users"), planning.get("target_rps")
        if target_users is not None and target_rps is not None:
            # The file gave both: plan in the sweep's own unit.
            target_users, target_rps = (target_users, None) if mode == "concurrency" else (None, target_rps)
    if target_users is not None and mode == "rate":
        raise UsageError("--target-users needs a concurrency sweep (--mode concurrency); use --target-rps")
    if (target_users is not None and target_users <= 0) or (target_rps is not None and target_rps <= 0):
        raise UsageError("the planning target (--target-users / --target-rps) must be positive")
    headroom = args.headroom if args.headroom is not None else float((planning or {}).get("headroom", 0.2))
    if not 0.0 <= headroom < 1.0:
        raise UsageError(f"--headroom {headroom:g}: must be at least 0 and below 1 (0.2 = keep 20% spare)")
    return target_users, target_rps, headroom
