"""`chatbench run SCENARIO`: run a scenario headless and leave a results directory (the main job).

The end of ``run`` is one place: ``outcome = run_load(...)`` then ``return finish(outcome)``; the
report and the SLO gate hook into ``finish``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.scenario.cli_options import add_override_arguments, overrides_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    add_override_arguments(parser)
    add_load_arguments(parser)


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``run`` and ``ui``."""
    group = parser.add_argument_group("load generation")
    group.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="N",
        help="load-generator processes (Locust --processes; -1: one per CPU; default 0: one process)",
    )
    group.add_argument("--results-dir", default="results", metavar="DIR", help="parent of run directories")
    group.add_argument(
        "--run-id", metavar="ID", help="name of the run directory (default: <scenario>-<time>)"
    )
    group.add_argument(
        "--drain-timeout",
        type=float,
        metavar="S",
        help="longest wait for answers in flight at the end (default: the scenario's total timeout)",
    )


def run(args: argparse.Namespace) -> int:
    from bench.load.runner import run_load

    print(f"chatbench: running {args.scenario}", flush=True)
    outcome = run_load(
        args.scenario,
        overrides_from_args(args),
        results_dir=args.results_dir,
        run_id=args.run_id,
        processes=args.processes,
        drain_timeout_s=args.drain_timeout,
    )
    return finish(outcome)


def finish(outcome: Any) -> int:
    """Say where the results are; the report and the SLO gate are wired in here."""
    print(
        f"chatbench: {outcome.records} requests recorded ({outcome.errors} failed) in {outcome.run_dir}",
        flush=True,
    )
    if outcome.interrupted:
        print("chatbench: the run was interrupted; what was recorded is kept", file=sys.stderr)
        return 130
    return 0 if outcome.exit_code == 0 else outcome.exit_code
