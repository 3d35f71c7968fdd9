"""The ``chatbench`` command line.

Subcommands live in ``bench.commands.<name>``; a module is imported only when its subcommand is
chosen, so ``chatbench --help`` imports neither pandas, matplotlib nor gevent. A ``ChatbenchError``
becomes one line on stderr and exit code 2; any other exception keeps its traceback (it is a bug).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NamedTuple

from bench import __version__
from bench.errors import ChatbenchError
from bench.gates.exit_codes import EXIT_NOT_RUN, EXIT_PASS, EXIT_SLO_BREACH


class Command(NamedTuple):
    module: str
    help: str
    epilog: str = ""


RUN_EXIT_CODES = f"""exit codes:
  {EXIT_PASS}    every SLO met (or no SLO set)
  {EXIT_SLO_BREACH}    at least one SLO breached (the verdict block, junit.xml and slo.md say which)
  {EXIT_NOT_RUN}    could not run or judge: a bad flag or scenario, an unreachable target, no records
  130  interrupted (Ctrl-C); the report covers what was recorded"""

COMPARE_EXIT_CODES = f"""exit codes:
  {EXIT_PASS}    no significant regression
  {EXIT_SLO_BREACH}    a significant regression in at least one metric
  {EXIT_NOT_RUN}    could not compare: a missing or empty results directory, a bad flag"""


COMMANDS: dict[str, Command] = {
    "run": Command(
        "bench.commands.run", "run a scenario headless and write a report (the main job)", RUN_EXIT_CODES
    ),
    "ui": Command("bench.commands.ui", "run a scenario from Locust's web dashboard (127.0.0.1)"),
    "validate": Command("bench.commands.validate", "check a scenario file and show what it would send"),
    "report": Command("bench.commands.report", "rebuild the report of a results directory"),
    "worker": Command(
        "bench.commands.worker", "be a load generator of a distributed run (chatbench run --master)"
    ),
    "mock": Command("bench.commands.mock", "serve the embedded mock LLM server"),
    "calibrate": Command("bench.commands.calibrate", "measure what one load-generator process sustains"),
    "capacity": Command("bench.commands.capacity", "sweep load levels: highest load within SLOs, replicas"),
    "compare": Command(
        "bench.commands.compare", "compare two results directories for regressions", COMPARE_EXIT_CODES
    ),
}


def build_parser(chosen: str | None = None) -> tuple[argparse.ArgumentParser, object | None]:
    """Build the parser; only the chosen subcommand's module is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="chatbench",
        description="Load and latency benchmarking for LLM chat servers (/v1/chat/completions).",
        epilog="Run 'chatbench COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"chatbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    module = None
    for name, command in COMMANDS.items():
        sub_parser = sub.add_parser(
            name,
            help=command.help,
            description=command.help,
            epilog=command.epilog or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == chosen:
            module = importlib.import_module(command.module)
            module.add_arguments(sub_parser)
    return parser, module


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chatbench`` console script; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser, module = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(args_list)
    if module is None:
        parser.print_help()
        return 2 if args_list else 0
    try:
        return int(module.run(args))  # type: ignore[attr-defined]
    except ChatbenchError as exc:
        print(f"chatbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("chatbench: interrupted", file=sys.stderr)
        return 130
