"""`chatbench report RUN_DIR`: rebuild the report of a results directory without re-running load."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """RUN_DIR and the steady-state window."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a results directory, e.g. results/<run-id>")
    parser.add_argument(
        "--window",
        metavar="START:END",
        default=None,
        help="steady-state window in seconds from the run start (either side may be empty, e.g. 10: ); "
        "default: from the run's schedule of offered load (after the spawn ramp and load.warmup_s)",
    )


def run(args: argparse.Namespace) -> int:
    """Write summary.json, summary.md, report.html and the plots; print the headline table.

    The SLOs the run was judged by (``slo.json``, else the run's ``scenario.json``) are judged by the SLO gate's own evaluation over
    the same window, and the report shows that verdict first (the exit code stays 0: this command
    rebuilds a report, it is not the gate).
    """
    from bench.gates.data import run_slo
    from bench.gates.slo import evaluate_slos
    from bench.report import build_report, headline_table

    slo = run_slo(args.run_dir)  # what the gate judged (slo.json), else the scenario's
    verdict = evaluate_slos(args.run_dir, slo, window=args.window or "steady")
    print("chatbench: building report...", flush=True)
    result = build_report(args.run_dir, window=args.window, verdict=verdict, slo=slo)
    print(headline_table(result.summary, html_path=result.html_path))
    return 0
