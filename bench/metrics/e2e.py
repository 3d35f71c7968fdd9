"""E2E, end-to-end latency of a request (ms)."""

from __future__ import annotations

from bench.metrics.base import FieldMetric


class E2e(FieldMetric):
    """End-to-end latency: from the request bytes written to the whole answer received, the
    ``data: [DONE]`` event of a stream or the end of a non-streamed body.

    Formula: ``e2e_ms = (t_done - t_sent) * 1000``, on the monotonic clock (``Record.e2e_ms``).

    Counts: successful requests, streamed or not.
    """

    name = "e2e_ms"
    label = "E2E"
    unit = "ms"
    slo = True
    plotted = True
    per_second = True
    field = "e2e_ms"
    order = 50


METRIC = E2e()
