"""The live view of a run in Locust's web UI: the LLM tab, live charts, and a report per test.

``install(environment, ...)`` is what the locustfile calls on the master or local runner when Locust's
web UI is on (``chatbench ui``, plain ``locust -f bench/load/locustfile.py``, a distributed master). It
hangs a ``LiveDashboard`` (``bench.live.web``) off the environment and subscribes it to the stream of
finished records. The figures come from ``bench.live.aggregate`` (mergeable sketches,
``bench.live.sketch``); each test started from the dashboard is reported on its own
(``bench.live.testruns``). Nothing here imports pandas or matplotlib into the load generator.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["install", "subscribe"]


def subscribe(environment: Any, callback: Callable[[Any], None]) -> None:
    """Call ``callback(record)`` for every finished record of the run, this process's or a worker's (the
    one hook to the record stream: the record hub of the run's writer, ``bench.load.hub``). The records
    are ``bench.live.views.record_views`` of each batch: Record's fields read from the batch's row."""
    from bench.live.views import record_views
    from bench.load.hub import record_hub

    def on_batch(batch: Any) -> None:
        for record in record_views(batch):
            callback(record)

    record_hub(environment).subscribe(on_batch)


def install(environment: Any, scenario: Any, run_dir: Path, **options: Any) -> Any:
    """Set up the live view on ``environment`` (see the module docstring); returns the dashboard.

    ``options`` are ``LiveDashboard``'s: ``inflight`` (requests in flight now, as (prompt set, stream, count) triples), ``driven`` (run by
    ``chatbench ui``, which builds the reports left at the end), ``target`` (the session's base URL).
    ``CHATBENCH_LIVE=0`` in the environment leaves the live view out (Locust's own UI only).
    """
    if os.environ.get("CHATBENCH_LIVE", "1") == "0":  # off: benchmarks/live_aggregation.py compares
        return None
    from bench.live.web import LiveDashboard

    dashboard = LiveDashboard(environment, scenario, run_dir, **options)
    environment.chatbench_live = dashboard
    subscribe(environment, dashboard.on_record)
    return dashboard
