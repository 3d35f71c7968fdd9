"""The runner state the dashboard tells Locust's page keeps the page truthful (``bench.live.web``).

Locust's page polls ``/stats/requests`` only while it reads ``spawning`` or ``running``, and takes any
other state as where the test is now. The checks run in ``tests/live/page_state.py``, in a process of
their own, since importing Locust patches the process with gevent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _check(tmp_path: Path, case: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.live.page_state", str(tmp_path), case],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_a_started_shape_test_is_never_ready_to_the_page(tmp_path: Path) -> None:
    # "ready" read after its Start sends Locust's page back to the start form (and it stops polling)
    # while the test runs; a shape test is "ready" until its first tick, which runs in its own greenlet
    _check(tmp_path, "start")


def test_a_stopping_test_keeps_the_page_polling_until_it_has_stopped(tmp_path: Path) -> None:
    # at "stopping" / "cleanup" the page would stop polling and keep the LLM tab's figures of that moment,
    # without the records that arrive while the test ends (a master's workers' last batches)
    _check(tmp_path, "stop")
