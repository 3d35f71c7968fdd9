"""Measurement aids of the benchmark scripts: ``--nice``/``--rt`` and pinning a process to cores.

Imported by the scripts beside this file (``python benchmarks/<script>.py`` puts this directory first on
``sys.path``). Not part of chatbench itself: users never run at real-time priority.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["add_priority_arguments", "apply_priority", "pin"]


def pin(pid: int, cores: set[int]) -> bool:
    """Pin every thread of ``pid`` to ``cores`` (what ``taskset -a -p`` does); False where unsupported."""
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(task), cores)
    except (OSError, AttributeError):
        return False
    return True


def add_priority_arguments(parser: argparse.ArgumentParser) -> None:
    """``--nice`` and ``--rt``: measurement aids for the benchmark scripts on a shared machine."""
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run this and every process it starts at this niceness (e.g. -10 as root: other jobs on a "
        "shared machine then disturb the measurement less)",
    )
    parser.add_argument(
        "--rt",
        action="store_true",
        help="run this and every process it starts at real-time priority (SCHED_FIFO 10, root only): on a "
        "shared machine other jobs then hardly disturb the measurement; a measurement aid, not how users run",
    )


def apply_priority(args: argparse.Namespace) -> None:
    """Apply ``--nice``/``--rt`` to this process (the processes it starts inherit them)."""
    if getattr(args, "nice", 0):
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    if getattr(args, "rt", False):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
