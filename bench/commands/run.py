"""`chatbench run SCENARIO`: run a scenario headless, write its report and judge its SLOs (the main job).

One way through: ``run_load`` (scenario -> Locust -> records on disk), then ``finish``: the report is
built from the records alone (``bench.report``), the headline table is printed, and the SLO gate
(``bench.gates``) turns the same records into the exit code: 0 pass, 3 SLO breach, 2 could not run,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.gates.overrides import add_slo_arguments, effective_slo, slo_overrides_from_args
from bench.scenario.cli_options import add_override_arguments, overrides_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    add_override_arguments(parser)
    add_load_arguments(parser)
    group = parser.add_argument_group("report and CI gate")
    group.add_argument(
        "--window",
        metavar="START:END",
        help="steady-state window in seconds from the run start (default: from the run's schedule, "
        "after the spawn ramp and load.warmup_s, before load.cooldown_s)",
    )
    group.add_argument(
        "--junit", metavar="PATH", help="where to write the JUnit XML (default: RUN_DIR/junit.xml)"
    )
    add_slo_arguments(parser)


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
    group.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="skip the pre-load probe request (GET /v1/models and one chat request, which catch a wrong "
        "model, path or key before any load); only check that the server answers",
    )
    dist = parser.add_argument_group(
        "across machines (docs/distributed.md; on each load-generator machine: chatbench worker --master-host HOST)"
    )
    dist.add_argument(
        "--master",
        action="store_true",
        help="be the master of a distributed run: the load comes from workers on other machines, which "
        "get the scenario from here and send every record back (needs --host: the embedded mock serves "
        "one machine)",
    )
    dist.add_argument(
        "--expect-workers",
        type=int,
        default=1,
        metavar="N",
        help="start once N workers are connected (default 1)",
    )
    dist.add_argument(
        "--master-bind-host",
        default="*",
        metavar="ADDR",
        help="address the workers connect to (default: all)",
    )
    dist.add_argument(
        "--master-bind-port",
        type=int,
        default=5557,
        metavar="PORT",
        help="port the workers connect to (default 5557)",
    )
    dist.add_argument(
        "--workers-wait",
        type=float,
        default=300.0,
        metavar="S",
        help="longest wait for the workers to connect before the run gives up (default 300)",
    )


def run(args: argparse.Namespace) -> int:
    from bench.load.runner import run_load

    check_flags(args)  # a wrong flag is an error before any load, not after it
    print(f"chatbench: running {args.scenario}", flush=True)
    if args.master:
        print(
            f"chatbench: waiting for {args.expect_workers} worker(s) on port {args.master_bind_port}: "
            f"start each with: chatbench worker --master-host THIS_HOST --master-port {args.master_bind_port}",
            flush=True,
        )
    outcome = run_load(args.scenario, overrides_from_args(args), **load_options(args))
    return finish(outcome, args)


def check_flags(args: argparse.Namespace) -> None:
    """Check every flag that is only used after the load (``--slo``, ``--window``) and the load flags
    that argparse cannot check, so a mistake is a one-line ``UsageError`` (exit 2) before anything runs
    and before a run directory exists. The scenario and its overrides are checked by ``run_load`` first
    thing, also before the run directory."""
    import math

    from bench.errors import UsageError

    slo_overrides_from_args(args)  # --slo foo, --slo ttft_ms.p77=5, --slo ttft_ms.p95=abc
    if getattr(args, "window", None):
        from bench.analysis.window import parse_window

        parse_window(args.window)
    drain = getattr(args, "drain_timeout", None)
    if drain is not None and not (math.isfinite(drain) and drain >= 0):
        raise UsageError(f"--drain-timeout {drain:g}: expected a number of seconds >= 0")
    processes = getattr(args, "processes", 0)
    if processes < -1:
        raise UsageError(f"--processes {processes}: expected -1 (one per CPU), 0 (one process) or a count")
    if getattr(args, "master", False):
        if processes:
            raise UsageError("--master and --processes: the load comes from the workers; give one of the two")
        if args.expect_workers < 1:
            raise UsageError(f"--expect-workers {args.expect_workers}: expected a count >= 1")
        if not 0 < args.master_bind_port < 65536:
            raise UsageError(
                f"--master-bind-port {args.master_bind_port}: expected a port between 1 and 65535"
            )
        if not (math.isfinite(args.workers_wait) and args.workers_wait > 0):
            raise UsageError(f"--workers-wait {args.workers_wait:g}: expected a number of seconds > 0")


def load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``run_load`` options of the flags ``add_load_arguments`` adds (shared by ``run`` and ``ui``)."""
    return {
        "results_dir": args.results_dir,
        "run_id": args.run_id,
        "processes": args.processes,
        "drain_timeout_s": args.drain_timeout,
        "probe": args.probe,
        "master": master_options(args),
    }


def master_options(args: argparse.Namespace) -> Any:
    """``--master`` and its flags as ``run_load``'s ``master`` option (None: not distributed)."""
    if not getattr(args, "master", False):
        return None
    from bench.load.runner import MasterOptions

    return MasterOptions(
        expect_workers=args.expect_workers,
        bind_host=args.master_bind_host,
        bind_port=args.master_bind_port,
        workers_wait_s=args.workers_wait,
    )


def finish(outcome: Any, args: argparse.Namespace) -> int:
    """Judge the SLOs on the records, report (verdict first), print the headline table and the verdict."""
    from bench.errors import ResultsError
    from bench.gates.gate import gate_run

    # The SLOs this run is judged by (the scenario's, with --slo/--no-slo on top): the gate judges them
    # and the report gets them, so its goodput uses the same thresholds; scenario.json stays as resolved.
    slo = effective_slo(outcome.scenario.slo, slo_overrides_from_args(args))
    window = args.window or "steady"
    verdict = report(outcome, window, slo)
    if verdict is None:
        # Nothing was measured: there is no report to build and nothing for a gate to judge.
        raise ResultsError(f"the run recorded no request; see {outcome.run_dir}/locust for what Locust said")
    if outcome.interrupted:
        print("chatbench: the run was interrupted; the report covers what was recorded", file=sys.stderr)
        return 130
    if outcome.exit_code != 0:
        print(f"chatbench: Locust exited with code {outcome.exit_code}", file=sys.stderr)
        return 2
    code = gate_run(outcome.run_dir, slo, None, junit_path=args.junit, window=window, verdict=verdict)
    return _breaker_exit(outcome, verdict, code)


def _breaker_exit(outcome: Any, verdict: Any, code: int) -> int:
    """The circuit breaker stopped the load (``bench.load.breaker``): never a pass. Exit 3 (SLO breach)
    when the target answered some of the run's requests before it went away, 2 when it answered none."""
    import json
    from pathlib import Path

    from bench.gates.exit_codes import EXIT_NOT_RUN, EXIT_SLO_BREACH

    try:
        run_info = json.loads((Path(outcome.run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return code
    schedule = run_info.get("schedule") or {}
    if schedule.get("stop_reason") != "target_unreachable":
        return code
    limit = outcome.scenario.target.stop_when_unreachable_s
    print(
        f"chatbench: the target was unreachable for {limit:g} s, so the run stopped early "
        "(target.stop_when_unreachable_s)",
        file=sys.stderr,
    )
    return EXIT_SLO_BREACH if verdict.requests > verdict.failed else EXIT_NOT_RUN


def report(outcome: Any, window: str | None, slo: Any) -> Any:
    """Say what was recorded; when anything was, judge ``slo`` (the gate's evaluation), build the report
    with that verdict on top, print the headline table, and return the verdict (None: nothing recorded)."""
    from bench.gates.slo import evaluate_slos
    from bench.report import build_report, headline_table

    print(
        f"chatbench: {outcome.records} requests recorded ({outcome.errors} failed) in {outcome.run_dir}",
        flush=True,
    )
    if outcome.records == 0:
        return None
    verdict = evaluate_slos(outcome.run_dir, slo, window=window or "steady")
    print("chatbench: building report...", flush=True)
    result = build_report(
        outcome.run_dir, window=None if window == "steady" else window, verdict=verdict, slo=slo
    )
    print(headline_table(result.summary, html_path=result.html_path), flush=True)
    return verdict
