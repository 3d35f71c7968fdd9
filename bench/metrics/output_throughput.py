"""Output token throughput: output tokens of successful requests per second (tokens/s)."""

from __future__ import annotations

from bench.metrics.base import SuccessSum


class OutputThroughput(SuccessSum):
    """Output token throughput: the output tokens of the successful answers that ended in a window,
    per second (tokens from ``usage``, else the tokenizer, else the chunk count: ``token_source``).

    Formula: ``output_tokens_per_s = sum(output_tokens of successful requests) / duration_s``.

    Counts: successful requests (one without a token count adds nothing).
    """

    name = "output_tokens_per_s"
    label = "output tokens/s"
    unit = "tokens/s"
    field = "output_tokens"
    order = 220


METRIC = OutputThroughput()
