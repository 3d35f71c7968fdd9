"""What the workload was made of, from the records: prefix-cache hits, reasoning, tokens per chunk,
schedule lag of open-loop (and trace) arrivals, and requests the scenario cancelled on purpose.

``workload_summary(frame, selection)`` is the ``workload`` block of ``summary.json``; each part is
present only when the records hold its data, and says "not reported" where the server said nothing.
Definitions (``docs/metrics.md`` has them too):

- **cache-hit ratio** = requests with ``cached_tokens > 0`` / successful requests whose server reported
  ``cached_tokens`` (``usage.prompt_tokens_details.cached_tokens``, or llama.cpp's ``timings.cache_n``);
  **cached-token share** = sum of ``cached_tokens`` / sum of ``prompt_tokens`` over those requests;
  TTFT is split into *cached* (``cached_tokens > 0``) and *uncached* requests (successful, in the window).
- **reasoning**: ``reasoning_tokens`` (``usage.completion_tokens_details.reasoning_tokens``) and
  ``reasoning_ms`` (first reasoning delta to first answer delta) of the requests that reasoned.
- **tokens per chunk**: the distribution of ``chunk_tokens`` (known when each chunk carried running
  usage, vLLM's ``continuous_usage_stats``). **Per-chunk ITL** is the gap between consecutive content
  chunks, one value per gap; **token-weighted ITL** gives each token of chunk k (k >= 2) the value
  gap(k-1, k) / tokens(k), one value per token: with several tokens per chunk it is the time per
  token the user sees, where per-chunk ITL is the time per burst.
- **schedule lag** = actual send - scheduled send (``client_lag_ms``) of every counted open-loop
  request; the run *fell behind* when its p99 is above ``LAG_BEHIND_MS`` (the requests left late, so
  the offered load was lower and burstier than asked; chatbench never slows a schedule silently).
- **client_cancelled**: requests the scenario abandoned on purpose (``load.cancel``), counted apart:
  neither failures (error rate) nor latency samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bench.analysis.frames import RecordFrame
from bench.analysis.selection import Selection
from bench.metrics.itl_token import token_weighted_itl
from bench.stats import describe, percentile

__all__ = [
    "LAG_BEHIND_MS",
    "behind_warning",
    "unsent_warning",
    "workload_summary",
]

LAG_BEHIND_MS = 50.0


def workload_summary(
    frame: RecordFrame, sel: Selection, scenario: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``workload`` block; ``scenario`` (``scenario.json``) says what the run asked the server for,
    so a count it asked for and did not get reads "not reported"."""
    df = frame.df
    out: dict[str, Any] = {}
    ok = sel.counted & sel.ok
    latency = sel.latency_mask
    cached = df["cached_tokens"].to_numpy(dtype=np.float64)
    ttft = df["ttft_ms"].to_numpy(dtype=np.float64)
    reported = ok & ~np.isnan(cached)
    if ok.any():
        hit = reported & (cached > 0)
        prompt = df["prompt_tokens"].to_numpy(dtype=np.float64)
        prompt_sum = float(np.nansum(prompt[reported]))
        out["prefix_cache"] = {
            "reported": bool(reported.any()),
            "requests": int(reported.sum()),
            "not_reported": int((ok & ~reported).sum()),
            "hits": int(hit.sum()),
            "hit_ratio": float(hit.sum() / reported.sum()) if reported.any() else None,
            "cached_token_share": float(np.nansum(cached[reported]) / prompt_sum) if prompt_sum else None,
            "ttft_ms": {
                "cached": dict(describe(ttft[hit & latency])),
                "uncached": dict(describe(ttft[reported & ~hit & latency])),
            },
        }
    tokens = df["reasoning_tokens"].to_numpy(dtype=np.float64)
    duration = df["reasoning_ms"].to_numpy(dtype=np.float64)
    reasoned = ok & ((tokens > 0) | ~np.isnan(duration))
    if reasoned.any():
        out["reasoning"] = {
            "requests": int(reasoned.sum()),
            "reasoning_tokens": dict(describe(tokens[reasoned])),
            "reasoning_ms": dict(describe(duration[reasoned & latency])),
        }
    chunks = _chunk_block(frame, latency)
    if chunks is not None:
        out["chunks"] = {"reported": True, **chunks}
    elif _asked_chunk_usage(scenario) and (ok & df["stream"].to_numpy(dtype=bool)).any():
        out["chunks"] = {"reported": False}
    lag = df["client_lag_ms"].to_numpy(dtype=np.float64)
    has_lag = sel.counted & ~np.isnan(lag)
    if has_lag.any():
        p99 = percentile(lag[has_lag], 99)
        out["schedule_lag_ms"] = {
            **describe(lag[has_lag]),
            "behind": bool(p99 is not None and p99 > LAG_BEHIND_MS),
            "behind_limit_ms": LAG_BEHIND_MS,
        }
    out["client_cancelled"] = sel.client_cancelled
    return out


def _asked_chunk_usage(scenario: Mapping[str, Any] | None) -> bool:
    target = (scenario or {}).get("target")
    options = target.get("options") if isinstance(target, Mapping) else None
    return isinstance(options, Mapping) and bool(options.get("continuous_usage_stats"))


def behind_warning(workload: dict[str, Any]) -> str | None:
    """The summary warning for a run whose arrivals left late, or None."""
    lag = workload.get("schedule_lag_ms")
    if not lag or not lag.get("behind"):
        return None
    return (
        f"the load generator fell behind the schedule: send lag p99 {lag['p99']:.1f} ms > "
        f"{LAG_BEHIND_MS:g} ms (max {lag['max']:.0f} ms), so requests left later than the arrivals or "
        "trace asked; add --processes, or replay slower (a larger trace time_scale)"
    )


def unsent_warning(run_info: Mapping[str, Any]) -> str | None:
    """The summary warning for a trace the load stopped before sending in full, or None."""
    schedule = run_info.get("schedule")
    schedule = schedule if isinstance(schedule, Mapping) else {}
    unsent, unknown = schedule.get("rows_unsent"), schedule.get("rows_unknown")
    if not unsent and not unknown:
        return None
    count = f"{unsent} trace rows were not sent" if unsent else "trace rows may not all have been sent"
    silent = (
        f" ({', '.join(map(str, unknown))} did not report: their rows left are not known)" if unknown else ""
    )
    return (
        f"{count}{silent}: the load stopped first (the file's duration_s, a stop, "
        "or twice the trace's length); add --processes, or replay slower (a larger trace time_scale)"
    )


def dropped_warning(run_info: Mapping[str, Any], scenario: Mapping[str, Any]) -> str | None:
    """The summary warning for open-loop arrivals dropped at the in-flight limit, or None."""
    schedule = run_info.get("schedule")
    dropped = schedule.get("arrivals_dropped") if isinstance(schedule, Mapping) else None
    if not dropped:
        return None
    load = scenario.get("load")
    arrival = load.get("arrival") if isinstance(load, Mapping) else None
    limit = arrival.get("max_inflight") if isinstance(arrival, Mapping) else None
    at = f" ({limit} per process)" if limit is not None else ""
    return (
        f"{dropped} open-loop arrivals were dropped, never sent: the in-flight limit{at} was full, so the "
        "server got less load than offered and its latencies are those of the load it could take; "
        "raise load.arrival.max_inflight, lower the rate, or add --processes"
    )


def _chunk_block(frame: RecordFrame, mask: np.ndarray) -> dict[str, Any] | None:
    offsets = frame.chunk_offsets
    if offsets is None or frame.chunk_tokens.size == 0:
        return None
    lengths = np.diff(offsets)
    known = mask & (lengths > 0)
    if not known.any():
        return None
    per_chunk = frame.chunk_tokens[np.repeat(known, lengths)]
    sizes, counts = np.unique(per_chunk, return_counts=True)
    return {
        "requests": int(known.sum()),
        "tokens_per_chunk": dict(describe(per_chunk)),
        "tokens_per_chunk_counts": {str(int(k)): int(v) for k, v in zip(sizes, counts, strict=True)},
        "itl_ms": dict(describe(frame.itl_gaps(known))),
        "itl_token_weighted_ms": dict(describe(token_weighted_itl(frame, known))),
    }
