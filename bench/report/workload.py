"""The run report's "Workload" table: prefix-cache hits, reasoning, tokens per chunk, schedule lag and
requests cancelled on purpose, from the summary's ``workload`` block (``bench.analysis.workload``).

A part the records hold nothing for is left out; the prefix cache says "not reported" when the server
sent no cached-token count, so a run never reads as "0 % hits" when the server simply did not say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench.numbers import fmt, pct
from bench.report.model import Table

if TYPE_CHECKING:
    from bench.analysis.schema import Summary

__all__ = ["workload_tables"]


def _stats(stats: Mapping[str, Any] | None, unit: str = "ms") -> str:
    if not stats or not stats.get("count"):
        return "no samples"
    return (
        f"p50 {fmt(stats.get('p50'))} / p95 {fmt(stats.get('p95'))} / p99 {fmt(stats.get('p99'))} {unit} "
        f"(n {fmt(stats['count'])})"
    )


def workload_tables(summary: Summary) -> list[Table]:
    work = summary.workload
    rows: list[tuple[str, str]] = []
    cache = work.get("prefix_cache")
    if cache:
        if cache.get("reported"):
            rows.append(
                (
                    "prefix-cache hit ratio",
                    f"{pct(cache.get('hit_ratio'), 1)} ({fmt(cache['hits'])} of {fmt(cache['requests'])} requests "
                    f"with cached_tokens above 0; {pct(cache.get('cached_token_share'), 1)} of their prompt tokens cached)",
                )
            )
            if cache.get("not_reported"):
                rows.append(
                    ("cached_tokens not reported", f"{fmt(cache['not_reported'])} successful requests")
                )
            rows.append(("TTFT, cached (hits)", _stats(cache["ttft_ms"]["cached"])))
            rows.append(("TTFT, uncached", _stats(cache["ttft_ms"]["uncached"])))
        else:
            rows.append(
                (
                    "prefix cache",
                    "not reported by the server (no usage.prompt_tokens_details.cached_tokens, no timings.cache_n)",
                )
            )
    reasoning = work.get("reasoning")
    if reasoning:
        rows.append(("requests that reasoned", fmt(reasoning["requests"])))
        rows.append(("reasoning tokens", _stats(reasoning["reasoning_tokens"], "tokens")))
        rows.append(("reasoning duration (first thought to first answer)", _stats(reasoning["reasoning_ms"])))
    chunks = work.get("chunks")
    if chunks and not chunks.get("reported", True):
        rows.append(
            (
                "tokens per chunk",
                "not reported by the server (continuous_usage_stats asked for, no running usage per chunk)",
            )
        )
    elif chunks:
        counts = ", ".join(f"{k}: {fmt(v)}" for k, v in chunks["tokens_per_chunk_counts"].items())
        rows.append(
            ("tokens per chunk", f"{_stats(chunks['tokens_per_chunk'], 'tokens')}; chunks by size {counts}")
        )
        rows.append(("ITL per chunk gap", _stats(chunks["itl_ms"])))
        rows.append(
            ("ITL token-weighted (gap / tokens of the chunk)", _stats(chunks["itl_token_weighted_ms"]))
        )
    lag = work.get("schedule_lag_ms")
    if lag:
        behind = " — FELL BEHIND the schedule" if lag.get("behind") else ""
        rows.append(
            (
                "send lag behind schedule",
                f"{_stats(lag)}, max {fmt(lag.get('max'))} ms{behind} (limit p99 {fmt(lag['behind_limit_ms'])} ms)",
            )
        )
    if work.get("client_cancelled"):
        rows.append(
            (
                "cancelled on purpose (client_cancelled)",
                f"{fmt(work['client_cancelled'])} requests, counted apart",
            )
        )
    if not rows:
        return []
    note = "Successful requests of the run; TTFT and durations over the window's successful requests."
    return [Table("Workload", ("", ""), tuple(rows), note)]
