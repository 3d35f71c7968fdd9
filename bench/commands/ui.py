"""`chatbench ui SCENARIO`: run a scenario from Locust's web dashboard (127.0.0.1:8089 by default).

Start and stop the test from the browser; Ctrl-C ends the dashboard, the records of every test
started from it are merged into the run directory, and the report is built from them.
"""

from __future__ import annotations

import argparse

from bench.commands.run import add_load_arguments, load_options, report
from bench.scenario.cli_options import add_override_arguments, overrides_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    add_override_arguments(parser)
    add_load_arguments(parser)
    group = parser.add_argument_group("dashboard")
    group.add_argument("--web-host", default="127.0.0.1", help="address to serve the dashboard on")
    group.add_argument("--web-port", type=int, default=8089, help="port of the dashboard")


def run(args: argparse.Namespace) -> int:
    from bench.load.runner import run_load

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
    from bench.gates.overrides import effective_slo

    report(outcome, None, effective_slo(outcome.scenario.slo, None))  # the tests started from the dashboard
    return 0
