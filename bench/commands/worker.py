"""`chatbench worker --master-host HOST`: a load generator of a distributed run (``chatbench run --master``).

A worker needs nothing but chatbench and the master's address: when it connects, the master sends it
the resolved scenario (every prompt, the tokenizer file), and the worker sends every record back to
the master, which writes the run. So a worker machine reads and writes no file of the run.

Underneath it is Locust's own worker: this command becomes (exec, so Ctrl-C and signals reach Locust)

    python -m locust -f <chatbench's locustfile> --worker --master-host HOST --master-port PORT [--processes N]

and plain ``locust -f bench/load/locustfile.py --worker --master-host HOST`` does the same.
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_PORT = 5557  # Locust's default master port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--master-host", required=True, metavar="HOST", help="the master's address")
    parser.add_argument(
        "--master-port", type=int, default=DEFAULT_PORT, metavar="PORT",
        help=f"the master's port (chatbench run --master-bind-port; default {DEFAULT_PORT})",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=int, default=0, metavar="N",
        help="worker processes on this machine (Locust --processes; -1: one per CPU; default 0: one)",
    )  # fmt: skip
    parser.add_argument(
        "--loglevel", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="Locust's log level"
    )


def worker_command(args: argparse.Namespace) -> list[str]:
    """The Locust command line of this worker (``UsageError`` for a value Locust would refuse)."""
    from bench.errors import UsageError
    from bench.load.runner import LOCUSTFILE

    if not 0 < args.master_port < 65536:
        raise UsageError(f"--master-port {args.master_port}: give a port between 1 and 65535")
    if args.processes < -1:
        raise UsageError(f"--processes {args.processes}: give N >= 1, or -1 for one per CPU")
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
        "--master-host", args.master_host, "--master-port", str(args.master_port), "--loglevel", args.loglevel,
    ]  # fmt: skip
    if args.processes:
        command += ["--processes", str(args.processes)]
    return command


def run(args: argparse.Namespace) -> int:
    command = worker_command(args)
    print(f"chatbench: worker of the master at {args.master_host}:{args.master_port}", flush=True)
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return
