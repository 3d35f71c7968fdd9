"""Client lag: how late the load generator sent a scheduled request (ms, open loop only)."""

from __future__ import annotations

from bench.metrics.base import FieldMetric


class ClientLag(FieldMetric):
    """Client lag: actual send minus scheduled send of an open-loop arrival. It measures the load
    generator, not the server: a lag that grows means the offered load was not the load sent.

    Formula: ``client_lag_ms = (t_sent - t_scheduled) * 1000``, on the monotonic clock
    (``Record.client_lag_ms``).

    Counts: every request that carries it (open-loop runs only), failed ones too.
    """

    name = "client_lag_ms"
    label = "client lag (open loop)"
    unit = "ms"
    field = "client_lag_ms"
    failed_too = True
    shown_when_empty = False  # closed-loop runs have none
    order = 90


METRIC = ClientLag()
