"""Throughput: successful requests per second (req/s)."""

from __future__ import annotations

from bench.metrics.base import SuccessSum


class Throughput(SuccessSum):
    """Throughput: successful answers per second, over a window, counting the requests that *ended*
    in it.

    Formula: ``throughput_rps = successful requests / duration_s`` (per request the value is 1 for a
    success; the figure is their sum over the window's seconds).

    Counts: successful requests.
    """

    name = "throughput_rps"
    label = "successful requests/s"
    unit = "req/s"
    order = 210


METRIC = Throughput()
