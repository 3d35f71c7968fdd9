"""Reasoning duration: from the first reasoning delta to the first answer delta (ms)."""

from __future__ import annotations

from bench.metrics.base import FieldMetric


class Reasoning(FieldMetric):
    """Reasoning duration: how long a reasoning model thought, as the stream shows it — from the first
    SSE event whose delta carries ``reasoning_content`` (or ``reasoning``) to the first one carrying
    ``content`` or ``tool_calls``. The tokens it thought are ``Record.reasoning_tokens``
    (``usage.completion_tokens_details.reasoning_tokens``), shown in the report's workload table.

    Formula: ``reasoning_ms = (t_first_answer_delta - t_first_reasoning_delta) * 1000``, on the
    monotonic clock (``Record.reasoning_ms``, stamped by ``bench.load.client``); for such a request
    ``ttfo_ms = ttft_ms + reasoning_ms``.

    Counts: successful streamed requests that reasoned before answering.
    """

    name = "reasoning_ms"
    label = "reasoning"
    title = "reasoning duration (first thought to first answer)"
    unit = "ms"
    slo = True
    field = "reasoning_ms"
    streamed_only = True
    shown_when_empty = False
    order = 25


METRIC = Reasoning()
