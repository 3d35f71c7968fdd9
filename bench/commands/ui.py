"""`chatbench ui SCENARIO`: run a scenario from Locust's web dashboard (127.0.0.1:8089 by default).

Start and stop tests from the browser; the dashboard's LLM tab shows them live (``bench.live``), and
each test stopped there gets its own report in ``RUN_DIR/test-N/``. Ctrl-C ends the dashboard: the
records are merged into the run directory, every test's report is built again from them, its headline
and SLO verdict are printed, and the exit code is the SLO gate's for the last test, as ``chatbench
run`` gives it (0 pass, 3 breach; 2 when the last test recorded no request; 130 when it was still
running at Ctrl-C, as ``run`` gives for an interrupted run; 0 when no test was started).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands.run import add_load_arguments, check_flags, load_options
from bench.gates.exit_codes import EXIT_NOT_RUN
from bench.scenario.cli_options import add_override_arguments, overrides_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    add_override_arguments(parser)
    add_load_arguments(parser)
    group = parser.add_argument_group("dashboard")
    group.add_argument("--web-host", default="127.0.0.1", help="address to serve the dashboard on")
    group.add_argument("--web-port", type=int, default=8089, help="port of the dashboard")


def run(args: argparse.Namespace) -> int:
    from bench.errors import UsageError
    from bench.load.runner import run_load

    check_flags(args)  # as ``run`` does: a wrong flag is one line before the dashboard starts
    if not 0 <= args.web_port < 65536:
        raise UsageError(f"--web-port {args.web_port}: expected a port between 0 and 65535")

    def ready(url: str) -> None:
        print(f"chatbench: dashboard at {url} (Ctrl-C to stop)", flush=True)

    outcome = run_load(
        args.scenario,
        overrides_from_args(args),
        **load_options(args),
        web_ui=True,
        web_host=args.web_host,
        web_port=args.web_port,
        on_ready=ready,
    )
    code = finish_tests(outcome.run_dir, outcome.records, outcome.errors)
    if outcome.exit_code not in (0, 130) and not outcome.interrupted:
        print(f"chatbench: Locust exited with code {outcome.exit_code}", file=sys.stderr)
        return EXIT_NOT_RUN
    return code


def finish_tests(run_dir: Path, records: int, errors: int) -> int:
    """Report and judge each test of a dashboard session; the exit code is the last test's verdict."""
    from bench.live.testruns import build_test_report, read_tests

    print(f"chatbench: {records} requests recorded ({errors} failed) in {run_dir}", flush=True)
    tests = read_tests(run_dir)
    if not tests:
        print("chatbench: no test was started from the dashboard", flush=True)
        return 0
    code: int | None = None
    for t in tests:
        n = t["test"]
        print(f"chatbench: test {n} of {len(tests)}", flush=True)
        out, code = build_test_report(run_dir, n, quiet=False)
        if code is None:
            print(f"chatbench: test {n} recorded no request ({out})", flush=True)
    if tests[-1].get("interrupted"):
        print(
            f"chatbench: test {tests[-1]['test']} was still running when the dashboard was stopped; "
            "its report covers what was recorded",
            file=sys.stderr,
        )
        return 130
    return EXIT_NOT_RUN if code is None else code
