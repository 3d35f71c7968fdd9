"""`chatbench validate SCENARIO`: check a scenario file and show what it would send.

Prints the prompt sets (count, prompt lengths in tokens), the sampling space, the load shape, the
SLOs and the JSON body of one example request, then exits 0; a broken scenario prints one line
naming the file and the key and exits 2. Nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import json

from bench.scenario.cli_options import add_override_arguments, overrides_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", help="path to a scenario file (YAML)")
    parser.add_argument(
        "--json", action="store_true", help="print the resolved scenario as JSON (what scenario.json holds)"
    )
    add_override_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bench.scenario.loader import load_scenario
    from bench.scenario.summary import describe_scenario

    scenario = load_scenario(args.scenario, overrides_from_args(args))
    if args.json:
        print(json.dumps(scenario.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(describe_scenario(scenario))
        print("ok: the scenario is valid")
    return 0
