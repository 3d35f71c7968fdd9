"""TTFT, time to first token (ms)."""

from __future__ import annotations

from bench.metrics.base import FieldMetric


class Ttft(FieldMetric):
    """Time to first token: from the request bytes written to the first SSE event whose delta carries
    non-empty ``content`` or ``reasoning_content`` (a reasoning model's first thought is its first
    token). Never the role-only first chunk, nor a usage-only chunk.

    Formula: ``ttft_ms = (t_first_token - t_sent) * 1000``, on the monotonic clock (``Record.ttft_ms``,
    stamped by ``bench.load.client``).

    Counts: successful streamed requests (a non-streamed answer has no first token).
    """

    name = "ttft_ms"
    label = "TTFT"
    unit = "ms"
    slo = True
    plotted = True
    per_second = True
    field = "ttft_ms"
    streamed_only = True
    order = 10


METRIC = Ttft()
