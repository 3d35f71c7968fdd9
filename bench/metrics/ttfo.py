"""TTFO, time to first output token: the first *answer* token, reasoning left out (ms)."""

from __future__ import annotations

from bench.metrics.base import FieldMetric


class Ttfo(FieldMetric):
    """Time to first output token: from the request bytes written to the first SSE event whose delta
    carries non-empty ``content`` or a ``tool_calls`` entry. Unlike TTFT, ``reasoning_content`` does not
    stop it: for a reasoning model TTFO - TTFT is the time spent thinking before the answer began
    (AIPerf's ``TTFO``); for any other model the two are equal.

    Formula: ``ttfo_ms = (t_first_answer_delta - t_sent) * 1000``, on the monotonic clock
    (``Record.ttfo_ms``, stamped by ``bench.load.client``).

    Counts: successful streamed requests whose answer has content or a tool call (one that only
    reasoned has none).
    """

    name = "ttfo_ms"
    label = "TTFO"
    unit = "ms"
    slo = True
    field = "ttfo_ms"
    streamed_only = True
    shown_when_empty = False  # runs recorded before TTFO existed
    order = 20


METRIC = Ttfo()
