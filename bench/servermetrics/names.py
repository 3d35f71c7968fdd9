"""Each server's metric names mapped to the common signals (standard library only: the live dashboard's
Locust process reads them too). The raw samples keep everything else.

| signal | unit | vLLM | SGLang | TGI | llama.cpp |
|---|---|---|---|---|---|
| ``running`` | requests | ``vllm:num_requests_running`` | ``sglang:num_running_reqs`` | ``tgi_batch_current_size`` | ``llamacpp:requests_processing`` |
| ``waiting`` | requests | ``vllm:num_requests_waiting`` | ``sglang:num_queue_reqs`` | ``tgi_queue_size`` | ``llamacpp:requests_deferred`` |
| ``kv_usage`` | ratio 0..1 | ``vllm:kv_cache_usage_perc`` (older: ``vllm:gpu_cache_usage_perc``) | ``sglang:token_usage`` | — | ``llamacpp:kv_cache_usage_ratio`` (older builds only) |
| ``preemptions`` | counter | ``vllm:num_preemptions_total`` | — | — | — |
| ``prompt_tokens`` | counter | ``vllm:prompt_tokens_total`` | ``sglang:prompt_tokens_total`` | ``tgi_request_input_length_sum`` | ``llamacpp:prompt_tokens_total`` |
| ``generated_tokens`` | counter | ``vllm:generation_tokens_total`` | ``sglang:generation_tokens_total`` | ``tgi_request_generated_tokens_sum`` | ``llamacpp:tokens_predicted_total`` |
| ``prefix_hit_rate`` | ratio 0..1 | Δ``vllm:prefix_cache_hits_total`` / Δ``vllm:prefix_cache_queries_total`` | ``sglang:cache_hit_rate`` | — | Δcached / (Δcached + Δprompt), from ``llamacpp:prompt_tokens_cached_total`` and ``llamacpp:prompt_tokens_total`` |

Which version of each server's source the names were checked against: ``docs/server-metrics.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["SERVERS", "SIGNALS", "Server", "Source", "detect_server"]

SIGNALS: dict[str, tuple[str, str]] = {
    "running": ("requests running", "requests"),
    "waiting": ("requests waiting", "requests"),
    "kv_usage": ("KV-cache usage", "ratio"),
    "preemptions": ("preemptions", "count"),
    "prompt_tokens": ("prompt tokens", "tokens"),
    "generated_tokens": ("generated tokens", "tokens"),
    "prefix_hit_rate": ("prefix-cache hit rate", "ratio"),
}
"""signal -> (label, unit)."""


@dataclass(frozen=True)
class Source:
    """Where a signal comes from: the first of ``names`` that a scrape holds.

    ``kind``: ``gauge`` (summed or averaged over label sets, ``how``), ``counter`` (increase since the
    first scrape), ``counter_ratio`` (Δ``names[0]`` / Δ(sum of ``denominator``) between scrapes).
    """

    names: tuple[str, ...]
    kind: Literal["gauge", "counter", "counter_ratio"] = "gauge"
    how: Literal["sum", "mean"] = "sum"
    denominator: tuple[str, ...] = ()


@dataclass(frozen=True)
class Server:
    name: str
    prefix: str
    signals: Mapping[str, Source]


SERVERS: tuple[Server, ...] = (
    Server(
        "vLLM",
        "vllm:",
        {
            "running": Source(("vllm:num_requests_running",)),
            "waiting": Source(("vllm:num_requests_waiting",)),
            "kv_usage": Source(("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"), how="mean"),
            "preemptions": Source(("vllm:num_preemptions_total",), "counter"),
            "prompt_tokens": Source(("vllm:prompt_tokens_total",), "counter"),
            "generated_tokens": Source(("vllm:generation_tokens_total",), "counter"),
            "prefix_hit_rate": Source(
                ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
                "counter_ratio",
                denominator=("vllm:prefix_cache_queries_total",),
            ),
        },
    ),
    Server(
        "SGLang",
        "sglang:",
        {
            "running": Source(("sglang:num_running_reqs",)),
            "waiting": Source(("sglang:num_queue_reqs",)),
            "kv_usage": Source(("sglang:token_usage",), how="mean"),
            "prompt_tokens": Source(("sglang:prompt_tokens_total",), "counter"),
            "generated_tokens": Source(("sglang:generation_tokens_total",), "counter"),
            "prefix_hit_rate": Source(("sglang:cache_hit_rate",), how="mean"),
        },
    ),
    Server(
        "TGI",
        "tgi_",
        {
            "running": Source(("tgi_batch_current_size",)),
            "waiting": Source(("tgi_queue_size",)),
            "prompt_tokens": Source(("tgi_request_input_length_sum",), "counter"),
            "generated_tokens": Source(("tgi_request_generated_tokens_sum",), "counter"),
        },
    ),
    Server(
        "llama.cpp",
        "llamacpp:",
        {
            "running": Source(("llamacpp:requests_processing",)),
            "waiting": Source(("llamacpp:requests_deferred",)),
            "kv_usage": Source(("llamacpp:kv_cache_usage_ratio",), how="mean"),
            "prompt_tokens": Source(("llamacpp:prompt_tokens_total",), "counter"),
            "generated_tokens": Source(("llamacpp:tokens_predicted_total",), "counter"),
            "prefix_hit_rate": Source(
                ("llamacpp:prompt_tokens_cached_total",),
                "counter_ratio",
                denominator=("llamacpp:prompt_tokens_cached_total", "llamacpp:prompt_tokens_total"),
            ),
        },
    ),
)


def detect_server(names: set[str]) -> Server | None:
    """The known server whose signal names the scrape holds most of (None: none of them)."""
    best, best_hits = None, 0
    for server in SERVERS:
        hits = sum(1 for src in server.signals.values() if any(n in names for n in src.names))
        if hits > best_hits:
            best, best_hits = server, hits
    return best
