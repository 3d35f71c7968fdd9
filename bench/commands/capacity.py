"""`chatbench capacity`: not built yet (its issue is open)."""

from __future__ import annotations

import argparse

from bench.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options yet."""


def run(args: argparse.Namespace) -> int:
    raise UsageError("'chatbench capacity' is not built yet")
