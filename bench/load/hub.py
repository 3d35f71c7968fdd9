"""The record hub: every finished record of the run, as it arrives, for whoever wants to watch live.

On the master of a distributed run, or in a local run, the run's one writer hands every batch of records
it has written (its own process's, or a worker's as it arrives) to the hub of its Locust ``Environment``
(``record_hub(environment)``, made on first use, so listeners may subscribe in any order):

    from bench.load.hub import record_hub

    @events.init.add_listener
    def _watch(environment, runner, **_kw):
        if not isinstance(runner, WorkerRunner):   # a worker's hub never publishes: its records go on
            record_hub(environment).subscribe(on_batch)

    def on_batch(batch):                      # a bench.load.batch.RecordBatch
        for ttft in batch.column("ttft_ms"): ...
        gaps = batch.itl_ms(0)                # float64 numpy view, no per-gap objects
        records = list(batch.records())       # Record objects, when a per-record form is handier

A subscriber is called once per batch (about every 0.5 s per load generator, not once per record),
inline in the writer: keep it cheap (count, bin into a histogram) and do anything slow in a greenlet of
your own. An exception in a subscriber is logged once and the subscriber is dropped; the records are
still written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bench.load.batch import RecordBatch

__all__ = ["RecordHub", "Subscriber", "record_hub"]

log = logging.getLogger("chatbench")

Subscriber = Callable[[RecordBatch], None]


class RecordHub:
    """Publishes each written batch to its subscribers, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.published = 0  # records published so far

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def publish(self, batch: RecordBatch) -> None:
        self.published += len(batch)
        for subscriber in list(self._subscribers):
            try:
                subscriber(batch)
            except Exception as exc:
                log.error("record hub: subscriber %r failed and is dropped: %s: %s", subscriber,
                          type(exc).__name__, exc)  # fmt: skip
                self.unsubscribe(subscriber)


def record_hub(environment: Any) -> RecordHub:
    """The record hub of this Locust ``Environment`` (created on first use)."""
    hub = getattr(environment, "chatbench_hub", None)
    if hub is None:
        hub = environment.chatbench_hub = RecordHub()
    return hub
