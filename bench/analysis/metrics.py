"""The metrics of a run, computed from a ``RecordFrame`` and a boolean row mask (the requests counted).

Every percentile here is exact, from raw values, with the one definition of ``bench.stats``
(linear interpolation; pandas' grouped ``quantile`` uses the same rule and is used for group-bys).
Latency percentiles are of *successful* requests only; the tables always carry the failed count.

Latencies: one module per metric in ``bench.metrics`` (``bench/metrics/ttft.py``...), whose docstring
holds the formula and which requests count; this module iterates over that registry.

Throughput over a window of ``duration_s`` seconds (its exact length), counting the requests that
*ended* in it. When the window is given, a request that crosses one of its edges counts for the part
of its time inside the window (``window_weights``), and one wholly inside counts 1: answers are not
periodic events at the edges, so counting a whole request that started before the window, over a
window whose start is not aligned with the requests, adds up to one answer per user per window (a few
per cent on a short window). With the fraction, a server that can answer at most C requests at once in
at least E seconds each is never measured above C / E:

- ``requests_per_s`` = sum of the weights of successful requests / duration_s;
- ``attempts_per_s`` = the same over all requests (successful + failed);
- ``output_tokens_per_s`` = sum of output_tokens x (the part of the request's *decode* time, first
  token to end, inside the window) of successful requests / duration_s;
- ``total_tokens_per_s`` = the output tokens above plus prompt_tokens x the request's weight.

Error rate = failed requests / all requests (a ratio in [0, 1]).

Goodput (DistServe, vLLM ``--goodput``): a request is *good* when it succeeded and each per-request
threshold of the scenario's ``slo`` block holds for it. A threshold names a statistic over the run
(``ttft_ms: {p95: 500}``), but per request only the limit can apply: the request's own value must be
<= 500 ms whatever the statistic (with several statistics for one metric, the smallest limit applies).
Metrics per request: every latency of ``bench.metrics`` that may be an SLO, with its request value
(``Metric.column``; for ``itl_ms`` the request's largest chunk gap). A metric the request does not have (TTFT of a non-streamed request, TPOT of a one-token answer)
does not judge it. ``error_rate`` is a run-level threshold, not a per-request one.
``goodput_rps`` = good requests / duration_s; ``good_share`` = good requests / all requests.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bench import metrics as registry
from bench.analysis.frames import RecordFrame
from bench.stats import quantiles_with_intervals

__all__ = [
    "BREAKDOWN_COLUMNS",
    "LATENCY_METRICS",
    "breakdowns",
    "error_summary",
    "good_mask",
    "goodput",
    "latency_table",
    "latency_values",
    "per_second",
    "slo_limits",
    "throughput",
    "window_weights",
]

LATENCY_METRICS: tuple[str, ...] = registry.names(kind="latency")
"""The latency names of ``latency_values`` (all in ms), in table order: ``ttft_ms``..."""
TIMED: tuple[registry.Metric, ...] = tuple(m for m in registry.all_metrics(kind="latency") if m.per_second)
"""The latencies given per second and per breakdown group (TTFT, TPOT, E2E): those marked per_second."""

BREAKDOWN_COLUMNS: tuple[str, ...] = (
    "scenario",
    "prompt_set",
    "stream",
    "step",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "max_tokens",
)
"""What a breakdown may split by; only the columns that took more than one value are shown."""

MAX_EXACT_GROUPS = 8  # more distinct values than this (a uniform draw): split into equal-width bins
BINS = 5


def latency_values(
    frame: RecordFrame, mask: np.ndarray, names: tuple[str, ...] = LATENCY_METRICS
) -> dict[str, np.ndarray]:
    """The samples (ms) of each latency metric in ``names`` over the requests in ``mask``.

    Each metric keeps the requests it is defined for (successful ones; streamed ones for TTFT...).
    ``names`` limits the work to some metrics (ITL can be tens of millions of gaps).
    """
    return {name: registry.get(name).values(frame, mask) for name in names}


def latency_table(frame: RecordFrame, mask: np.ndarray) -> dict[str, dict[str, Any]]:
    """``describe`` (count, mean, min, max, p50...p99.9) of each latency metric, ms, keyed by its name.

    A metric that is not ``shown_when_empty`` (client lag of a closed-loop run) is left out when nothing
    was measured.
    """
    table: dict[str, dict[str, Any]] = {}
    for metric in registry.all_metrics(kind="latency"):
        # One metric at a time, so at most one copy of the (large) ITL selection is alive.
        stats = dict(metric.describe(frame, mask))
        if stats["count"] or metric.shown_when_empty:
            table[metric.name] = stats
    return table


def window_weights(start_s: np.ndarray, end_s: np.ndarray, lo_s: float, hi_s: float) -> np.ndarray:
    """The part of each request's time [start, end] inside the window [lo, hi), from 0 to 1.

    A request without duration (end == start) counts 1 when it ended inside the window, else 0.
    """
    length = end_s - start_s
    inside = np.clip(np.minimum(end_s, hi_s) - np.maximum(start_s, lo_s), 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        part = np.where(length > 0, inside / np.where(length > 0, length, 1.0), 0.0)
    instant = (length <= 0) & (end_s >= lo_s) & (end_s < hi_s)
    return np.where(instant, 1.0, np.clip(part, 0.0, 1.0))


def throughput(
    frame: RecordFrame, mask: np.ndarray, duration_s: float, *, window: tuple[float, float] | None = None
) -> dict[str, float | None]:
    """Requests and tokens per second over ``duration_s`` (formulas in the module docstring).

    Without ``window`` every request in ``mask`` counts 1; with ``window`` = (start_s, end_s), each
    request in ``mask`` counts for the part of its time inside it (pass every counted request then, not
    only those that ended inside).
    """
    df = frame.df
    ok = mask & df["ok"].to_numpy()
    if duration_s <= 0:
        return {
            "requests_per_s": None,
            "attempts_per_s": None,
            "output_tokens_per_s": None,
            "total_tokens_per_s": None,
        }
    out_tokens = np.nan_to_num(df["output_tokens"].to_numpy(dtype=np.float64))
    in_tokens = np.nan_to_num(df["prompt_tokens"].to_numpy(dtype=np.float64))
    if window is None:
        weight = np.ones(len(df))
        decode = weight
    else:
        start_s = df["start_s"].to_numpy(dtype=np.float64)
        end_s = df["end_s"].to_numpy(dtype=np.float64)
        weight = window_weights(start_s, end_s, *window)
        first_s = start_s + np.nan_to_num(df["ttft_ms"].to_numpy(dtype=np.float64)) / 1000.0
        decode = window_weights(np.minimum(first_s, end_s), end_s, *window)
    output = float((out_tokens * decode)[ok].sum())
    return {
        "requests_per_s": float(weight[ok].sum()) / duration_s,
        "attempts_per_s": float(weight[mask].sum()) / duration_s,
        "output_tokens_per_s": output / duration_s,
        "total_tokens_per_s": (output + float((in_tokens * weight)[ok].sum())) / duration_s,
    }


def error_summary(frame: RecordFrame, mask: np.ndarray, *, top: int = 5) -> dict[str, Any]:
    """Failed requests by error kind, by HTTP status (0: no status received), and the commonest messages."""
    failed = frame.df.loc[mask & ~frame.df["ok"].to_numpy(), ["error_kind", "status", "error_message"]]
    by_kind = failed["error_kind"].value_counts()
    by_status = failed["status"].value_counts()
    messages = (
        failed.assign(
            error_kind=failed["error_kind"].astype(object),
            error_message=failed["error_message"].astype(object).fillna(""),
        )
        .groupby(["error_kind", "status", "error_message"], sort=False)
        .size()
        .sort_values(ascending=False)
        .head(top)
    )
    return {
        "by_kind": {str(k): int(v) for k, v in by_kind.items() if v > 0},  # categorical: unused kinds count 0
        "by_status": {str(int(k)): int(v) for k, v in by_status.sort_index().items()},
        "top_messages": [
            {"error_kind": str(kind), "status": int(status), "message": str(message), "count": int(n)}
            for (kind, status, message), n in messages.items()
        ],
    }


def slo_limits(slo: Mapping[str, Any] | None) -> tuple[dict[str, float], list[str]]:
    """The per-request limit of each metric of the scenario's ``slo`` block, and the keys not applied.

    ``{"ttft_ms": {"p95": 500, "p50": 200}, "e2e_ms": 3000, "error_rate": 0.01}`` ->
    ``({"ttft_ms": 200.0, "e2e_ms": 3000.0}, [])``: the smallest limit of a metric applies.
    """
    limits: dict[str, float] = {}
    ignored: list[str] = []
    for key, spec in (slo or {}).items():
        if key == "error_rate":
            continue  # a run-level threshold; the gates judge it
        values = list(spec.values()) if isinstance(spec, Mapping) else [spec]
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if key not in registry.names(kind="latency", slo=True) or not numbers:
            ignored.append(str(key))
            continue
        limits[key] = min(numbers)
    return limits, ignored


def good_mask(frame: RecordFrame, limits: Mapping[str, float]) -> np.ndarray:
    """True for each request that succeeded and meets every limit (a missing metric does not judge)."""
    df = frame.df
    good = df["ok"].to_numpy().copy()
    for metric, limit in limits.items():
        values = registry.get(metric).column(frame)
        with np.errstate(invalid="ignore"):
            good &= np.isnan(values) | (values <= limit)
    return good


def goodput(
    frame: RecordFrame,
    mask: np.ndarray,
    slo: Mapping[str, Any] | None,
    duration_s: float,
    *,
    rate_mask: np.ndarray | None = None,
    window: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Good requests (count, share of all requests, per second) against the scenario's SLO thresholds.

    ``good`` and ``good_share`` are over ``mask``; ``goodput_rps`` is over ``rate_mask`` (default
    ``mask``) weighted like ``throughput`` when ``window`` is given, so goodput <= requests_per_s.
    """
    limits, ignored = slo_limits(slo)
    requests = int(mask.sum())
    if not limits:
        return {"limits_ms": {}, "ignored": ignored, "good": None, "good_share": None, "goodput_rps": None}
    good_rows = good_mask(frame, limits)
    good = int((good_rows & mask).sum())
    rate = None
    if duration_s > 0:
        rows = good_rows & (mask if rate_mask is None else rate_mask)
        rate = throughput(frame, rows, duration_s, window=window)["requests_per_s"]
    return {
        "limits_ms": limits,
        "ignored": ignored,
        "good": good,
        "good_share": good / requests if requests else None,
        "goodput_rps": rate,
    }


def per_second(
    frame: RecordFrame, run_end_s: float, *, limits: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per second of the run (by the second a request *ended* in): counts, rates, percentiles.

    Columns: ``second`` (start of the bucket, s from run start), ``requests``, ``failed``,
    ``error_rate``, ``requests_per_s`` (successful), ``output_tokens_per_s``, ``in_flight`` (mean
    requests in flight), ``good`` (when SLO limits are given), and for each latency metric marked
    ``per_second`` (TTFT, TPOT, E2E) ``ttft_p50_ms``... ``e2e_p99_ms`` (percentiles of the successful
    requests that ended in that second; NaN when none).
    """
    from bench.analysis.window import per_second_in_flight

    df = frame.df
    seconds = max(int(np.ceil(run_end_s)), 1)
    index = pd.RangeIndex(seconds, name="second")
    bucket = np.clip(np.floor(df["end_s"].to_numpy()), 0, seconds - 1).astype(np.int64)
    ok = df["ok"].to_numpy()
    out = pd.DataFrame(index=index)
    out["requests"] = np.bincount(bucket, minlength=seconds)
    out["failed"] = np.bincount(bucket, weights=~ok, minlength=seconds).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["error_rate"] = np.where(out["requests"] > 0, out["failed"] / out["requests"], np.nan)
    out["requests_per_s"] = np.bincount(bucket, weights=ok, minlength=seconds)
    tokens = np.where(ok, np.nan_to_num(df["output_tokens"].to_numpy()), 0.0)
    out["output_tokens_per_s"] = np.bincount(bucket, weights=tokens, minlength=seconds)
    out["in_flight"] = per_second_in_flight(df["start_s"].to_numpy(), df["end_s"].to_numpy(), seconds)
    if limits:
        out["good"] = np.bincount(bucket, weights=good_mask(frame, limits), minlength=seconds).astype(
            np.int64
        )
    okdf = _request_values(frame, TIMED, ok)
    if len(okdf):
        quantiles = okdf.groupby(bucket[ok]).quantile(np.array([0.5, 0.95, 0.99]))
        for col in okdf.columns:
            wide = quantiles[col].unstack()
            for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                out[f"{registry.get(col).stem}_{label}_ms"] = wide[q].reindex(index)
    else:
        for col in okdf.columns:
            for label in ("p50", "p95", "p99"):
                out[f"{registry.get(col).stem}_{label}_ms"] = np.nan
    return out.reset_index()


def _request_values(frame: RecordFrame, chosen: Sequence[registry.Metric], rows: np.ndarray) -> pd.DataFrame:
    """One column per metric in ``chosen``, named after it: its request value (NaN where undefined), for
    the rows of the boolean mask ``rows`` (indexed 0..k-1; each column taken out before the next)."""
    return pd.DataFrame({m.name: m.column(frame)[rows] for m in chosen})


def breakdowns(frame: RecordFrame, mask: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    """Per-group figures for each column of ``BREAKDOWN_COLUMNS`` that took more than one value.

    Each group: ``value`` (a label; ``"not sent"`` for a sampling key absent from the body),
    ``requests``, ``failed``, ``error_rate``, and for each latency metric marked ``per_second``
    (TTFT, TPOT, E2E) ``ttft_p50_ms``, ``ttft_p95_ms``... (successful requests), ``output_tokens_mean``;
    per latency also ``ttft_n`` (the values its percentiles come from) and ``ttft_p50_ci_ms``,
    ``ttft_p95_ci_ms``: the 95 % distribution-free interval ``[lo, hi]`` of that percentile
    (``bench.stats.percentile_interval``), None under two values.
    Numeric columns with more than ``MAX_EXACT_GROUPS`` values are cut into ``BINS`` equal-width bins.
    """
    mask = np.asarray(mask, dtype=bool)
    # Only the columns the groups need, one at a time: a copy of the whole frame's rows would be 2 GB at 10M.
    df = pd.DataFrame(
        {"ok": frame.df["ok"].to_numpy()[mask], "output_tokens": frame.df["output_tokens"].to_numpy()[mask]}
    )
    values = _request_values(frame, TIMED, mask)
    out: dict[str, list[dict[str, Any]]] = {}
    for column in BREAKDOWN_COLUMNS:
        key = _group_key(frame.df[column][mask].reset_index(drop=True))
        if key is None:
            continue
        out[column] = _group_figures(df, values, key)
    return out


def _group_key(col: pd.Series) -> pd.Series | None:
    """Labels to group ``col`` by, or None when it took a single value."""
    if col.nunique(dropna=False) <= 1:
        return None
    if col.dtype == bool:
        return pd.Series(
            pd.Categorical.from_codes(col.to_numpy().astype(np.int8), pd.Index(["false", "true"])),
            index=col.index,
        )
    if pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=np.float64)
        missing = np.isnan(values)
        distinct = np.unique(values[~missing])
        if distinct.size > MAX_EXACT_GROUPS:
            # A value drawn from a range: equal-width bins, labelled by their bounds.
            edges = np.linspace(distinct[0], distinct[-1], BINS + 1)
            names = [f"{lo:.3g} to {hi:.3g}" for lo, hi in itertools.pairwise(edges)]
            codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, BINS - 1)
        else:
            names = [f"{v:g}" for v in distinct]
            codes = np.searchsorted(distinct, values)
        if missing.any():
            codes[missing] = len(names)
            names.append("not sent")
        return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(names)), index=col.index)
    labels = col.astype("category")
    if labels.isna().any():
        labels = labels.cat.add_categories(["none"]).fillna("none")
    return labels.cat.remove_unused_categories()


def _group_figures(df: pd.DataFrame, latency: pd.DataFrame, key: pd.Series) -> list[dict[str, Any]]:
    ok = df["ok"].to_numpy()
    codes = key.cat.codes.to_numpy() if hasattr(key, "cat") else pd.Categorical(key).codes
    labels = list(key.cat.categories) if hasattr(key, "cat") else list(pd.Categorical(key).categories)
    size = np.bincount(codes[codes >= 0], minlength=len(labels))
    failed = np.bincount(codes[(codes >= 0) & ~ok], minlength=len(labels))
    tokens = df["output_tokens"].to_numpy(dtype=np.float64)
    rows: list[dict[str, Any]] = [
        {"value": str(label), "requests": int(size[g]), "failed": int(failed[g])}
        for g, label in enumerate(labels)
        if size[g] > 0
    ]
    by_label = {r["value"]: r for r in rows}
    for r in rows:
        r["error_rate"] = r["failed"] / r["requests"] if r["requests"] else None
    for col in latency.columns:
        name = registry.get(col).stem
        values = latency[col].to_numpy(dtype=np.float64)
        keep = ok & np.isfinite(values) & (codes >= 0)
        kept_codes = codes[keep]
        # A stable sort of small integer codes is a radix sort: groups contiguous, values left unsorted.
        order = np.argsort(kept_codes.astype(np.int16), kind="stable")
        grouped_values, sorted_codes = values[keep][order], kept_codes[order]
        bounds = np.searchsorted(sorted_codes, np.arange(len(labels) + 1))
        for g, label in enumerate(labels):
            row = by_label.get(str(label))
            if row is None:
                continue
            group = grouped_values[bounds[g] : bounds[g + 1]]  # a slice of our own copy: reordered in place
            row[f"{name}_n"] = int(group.size)
            figures = quantiles_with_intervals(group, (50.0, 95.0)) if group.size else [(None, None)] * 2
            for q, (value, interval) in zip((50.0, 95.0), figures, strict=True):
                tag = f"p{q:g}"
                row[f"{name}_{tag}_ms"] = value
                row[f"{name}_{tag}_ci_ms"] = list(interval) if interval is not None else None
    counted = ok & np.isfinite(tokens) & (codes >= 0)
    token_sum = np.bincount(codes[counted], weights=tokens[counted], minlength=len(labels))
    token_n = np.bincount(codes[counted], minlength=len(labels))
    for g, label in enumerate(labels):
        row = by_label.get(str(label))
        if row is not None:
            row["output_tokens_mean"] = float(token_sum[g] / token_n[g]) if token_n[g] else None
    return rows


def _num(value: Any) -> float | None:
    """A float, or None for NaN/missing (JSON has no NaN, and a report must not print one)."""
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value
