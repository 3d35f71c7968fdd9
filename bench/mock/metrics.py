"""The mock's ``GET /metrics``: Prometheus text in vLLM's names, from the mock's real state.

| name | type | what it is in the mock |
|---|---|---|
| ``vllm:num_requests_running`` | gauge | batch slots taken (``Engine.active``) |
| ``vllm:num_requests_waiting`` | gauge | requests in the FIFO queue for a slot (not counting ones whose client left) |
| ``vllm:prompt_tokens_total`` | counter | prompt tokens of every request admitted to a slot (counted at admission, as vLLM counts prefill) |
| ``vllm:generation_tokens_total`` | counter | output tokens produced, counted as each chunk is scheduled (streamed or not), so a request cut short counts what it produced |
| ``vllm:request_success_total`` | counter | requests answered in full, by ``finished_reason`` |
| ``vllm:num_preemptions_total`` | counter | always 0: the mock never preempts |
| ``vllm:prefix_cache_queries_total`` | counter | with a prefix cache (``prefix_cache_blocks``): prompt tokens looked up, at admission |
| ``vllm:prefix_cache_hits_total`` | counter | with a prefix cache: the prompt tokens found cached (the answers' ``cached_tokens``) |

The mock has no model of the KV blocks its running requests hold (its prefix cache is an LRU that
stays full once warm, which is not what vLLM's KV usage measures), so it serves no
``vllm:kv_cache_usage_perc``: a report then says the server does not expose KV usage rather than
showing a made-up figure. Labels: ``model_name`` (the
served model id) and ``engine="0"``, as vLLM's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["MockMetrics"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MockMetrics:
    """The counters; the gauges are read from the engine when rendered."""

    __slots__ = (
        "generation_tokens",
        "labels",
        "prefix_cache",
        "prefix_hits",
        "prefix_queries",
        "prompt_tokens",
        "success",
    )

    def __init__(self, model: str, *, prefix_cache: bool = False) -> None:
        self.labels = f'engine="0",model_name="{_label(model)}"'
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success: Counter[str] = Counter()
        self.prefix_cache = prefix_cache
        self.prefix_queries = 0
        self.prefix_hits = 0

    def prefix_cached(self, prompt_tokens: int, cached_tokens: int) -> None:
        """A request was admitted through the prefix cache: ``cached_tokens`` of its prompt were cached."""
        self.prefix_queries += prompt_tokens
        self.prefix_hits += cached_tokens

    def render(self, engine: Any) -> bytes:
        waiting = sum(1 for job in engine.queue if not job.cancelled)
        lab = self.labels
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{lab}}} {float(engine.active)}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{lab}}} {float(waiting)}",
            "# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.",
            "# TYPE vllm:num_preemptions_total counter",
            f"vllm:num_preemptions_total{{{lab}}} 0.0",
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{{{lab}}} {float(self.prompt_tokens)}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{{{lab}}} {float(self.generation_tokens)}",
        ]
        if self.prefix_cache:
            lines += [
                "# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.",
                "# TYPE vllm:prefix_cache_queries_total counter",
                f"vllm:prefix_cache_queries_total{{{lab}}} {float(self.prefix_queries)}",
                "# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.",
                "# TYPE vllm:prefix_cache_hits_total counter",
                f"vllm:prefix_cache_hits_total{{{lab}}} {float(self.prefix_hits)}",
            ]
        lines += [
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success_total counter",
        ]
        for reason in sorted(set(self.success) | {"stop", "length"}):
            lines.append(
                f'vllm:request_success_total{{{lab},finished_reason="{_label(reason)}"}} '
                f"{float(self.success[reason])}"
            )
        return ("\n".join(lines) + "\n").encode()
