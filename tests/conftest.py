"""Shared test fixtures. Tests mirror the modules: tests/<area>/test_<module>.py."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import matplotlib
import pytest

from tests import timing_bounds

matplotlib.use("Agg")

IN_CI = os.environ.get("CI") == "true"

# A shell that starts a job in the background ("bash .ci/run &") starts it with SIGINT ignored, and an
# ignored signal is inherited by every process it starts: the chatbench and Locust processes the tests
# stop with SIGINT (Ctrl-C) would then never stop. Give this session, and so every child, the normal
# Ctrl-C behaviour back (children start with the default action: only an ignored signal is inherited).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _stall_probe(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``timing_test`` runs with a probe that sees the machine's own stalls
    (``tests/timing_bounds.py``)."""
    if request.node.get_closest_marker("timing") is None:
        yield
        return
    timing_bounds.PROBE = probe = timing_bounds.StallProbe()
    try:
        yield
    finally:
        timing_bounds.PROBE = None
        probe.close()
