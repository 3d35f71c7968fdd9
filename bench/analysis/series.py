"""How a run evolved over time, and how chunk gaps depend on the position in the answer: what the plots draw.

Each function takes a ``RecordFrame`` and a boolean row mask (the requests counted) and returns plain
NumPy arrays, so the report's plots draw numbers computed here and nowhere else.

- **Buckets.** ``bucket_width_s`` picks the narrowest width from ``WIDTHS_S`` at which a bucket holds on
  average at least ``min_samples(95)`` (100) successful requests, and at most ``MAX_BUCKETS`` buckets
  span the run: a p95 drawn per second from three requests is noise, not a trend. A bucket is never wider
  than the run: when no narrower width holds enough, one bucket spans the whole run.
- **Latency over time** (``latency_over_time``): per bucket of the second a request *ended* in, the
  count of successful requests and the p50/p95/p99 of each latency of ``bench.metrics`` marked
  ``per_second`` (TTFT, TPOT, E2E; keyed by metric name, ``ttft_ms``) (the one percentile of
  ``bench.stats``); ``sparse[q]`` is True where the bucket holds fewer values than
  ``min_samples(q)``.
- **Output tokens over time** (``tokens_over_time``): tokens counted when they *arrived*, not when
  their request ended. A streamed answer's content chunks arrive at ``start_s + ttft_ms / 1000`` (the
  first) and then after each gap of ``itl_ms``; its output tokens are spread evenly over its chunks
  (a chunk's own token count is not loaded). A non-streamed answer's tokens arrive at ``end_s``.
  Successful requests only, as every throughput figure. tokens/s of a bucket = tokens / width.
- **Errors over time** (``errors_over_time``): failed requests per bucket (by ``end_s``), split by
  error kind and HTTP status.
- **ITL by token position** (``itl_by_position``): gap k of an answer is the wait for its chunk k + 1;
  gaps are grouped by k into about 30 bins growing geometrically, and p50/p95 taken per bin, from at
  most ``MAX_POSITION_ANSWERS`` answers (a seeded sample) so a million-request run stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench import metrics
from bench.analysis.frames import RecordFrame
from bench.stats import min_samples

__all__ = [
    "BucketedLatency",
    "ErrorSeries",
    "PositionProfile",
    "bucket_width_s",
    "errors_over_time",
    "itl_by_position",
    "latency_over_time",
    "tokens_over_time",
]

WIDTHS_S: tuple[float, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
MAX_BUCKETS = 200
TIMED: tuple[str, ...] = tuple(m.name for m in metrics.all_metrics(kind="latency") if m.per_second)
"""The latencies given over time (``ttft_ms``, ``tpot_ms``, ``e2e_ms``)."""
LATENCY_QUANTILES: tuple[float, ...] = (50.0, 95.0, 99.0)
MAX_POSITION_ANSWERS = 20_000
_BATCH_GAPS = 2_000_000  # chunk times are computed for about this many gaps at a time (bounded memory)


def bucket_width_s(count: int, run_end_s: float, *, min_count: int | None = None) -> float:
    """The narrowest width of ``WIDTHS_S`` giving ``min_count`` values per bucket on average (see above)."""
    need = min_samples(95.0) if min_count is None else min_count
    span = max(run_end_s, 1e-9)
    whole = float(max(np.ceil(span), 1.0))  # one bucket over the whole run (rounded up to a whole second)
    for width in WIDTHS_S:
        if span / width > MAX_BUCKETS:
            continue
        if width >= whole:
            return whole  # a bucket wider than the run would say "120 s buckets" of a 15 s run
        if count * width / span >= need:
            return float(width)
    return float(WIDTHS_S[-1]) if count * WIDTHS_S[-1] / span >= need else whole


def _edges(run_end_s: float, width_s: float) -> np.ndarray:
    buckets = max(int(np.ceil(run_end_s / width_s - 1e-9)), 1)
    return np.arange(buckets + 1, dtype=np.float64) * width_s


@dataclass(frozen=True)
class BucketedLatency:
    """Per-bucket latency percentiles of successful requests (ms), with counts and sparse flags."""

    width_s: float
    edges_s: np.ndarray  # bucket b covers [edges_s[b], edges_s[b + 1])
    counts: dict[str, np.ndarray]  # metric -> values per bucket
    values: dict[str, dict[float, np.ndarray]]  # metric -> quantile -> value per bucket (NaN: none)
    sparse: dict[str, dict[float, np.ndarray]]  # metric -> quantile -> fewer than min_samples(q)


def latency_over_time(
    frame: RecordFrame, mask: np.ndarray, run_end_s: float, *, width_s: float | None = None
) -> BucketedLatency:
    """TTFT/TPOT/E2E p50/p95/p99 per bucket of end time (module docstring); ``mask``: requests counted."""
    df = frame.df
    ok = np.asarray(mask, dtype=bool) & df["ok"].to_numpy()
    if width_s is None:
        width_s = bucket_width_s(int(ok.sum()), run_end_s)
    edges = _edges(run_end_s, width_s)
    buckets = edges.size - 1
    bucket = np.clip((df["end_s"].to_numpy() // width_s).astype(np.int64), 0, buckets - 1)
    counts: dict[str, np.ndarray] = {}
    values: dict[str, dict[float, np.ndarray]] = {}
    sparse: dict[str, dict[float, np.ndarray]] = {}
    for name in TIMED:
        raw = metrics.get(name).column(frame)
        keep = ok & np.isfinite(raw)
        b, v = bucket[keep], raw[keep]
        order = np.argsort(b.astype(np.int16), kind="stable")  # radix sort: each bucket's values together
        b, v = b[order], v[order]
        n = np.bincount(b, minlength=buckets)
        starts = np.concatenate(([0], np.cumsum(n)[:-1]))
        per_q = {q: np.full(buckets, np.nan) for q in LATENCY_QUANTILES}
        for i in np.flatnonzero(n):
            chunk = v[starts[i] : starts[i] + n[i]]
            for q, value in zip(LATENCY_QUANTILES, np.percentile(chunk, LATENCY_QUANTILES), strict=True):
                per_q[q][i] = value
        counts[name] = n
        values[name] = per_q
        sparse[name] = {q: n < min_samples(q) for q in LATENCY_QUANTILES}
    return BucketedLatency(width_s, edges, counts, values, sparse)


def tokens_over_time(
    frame: RecordFrame, mask: np.ndarray, run_end_s: float, *, width_s: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(edges_s, output tokens/s per bucket), tokens counted at the arrival of their chunk (docstring)."""
    df = frame.df
    edges = _edges(run_end_s, width_s)
    buckets = edges.size - 1
    tokens = np.zeros(buckets, dtype=np.float64)
    ok = np.asarray(mask, dtype=bool) & df["ok"].to_numpy()
    out_tokens = np.nan_to_num(df["output_tokens"].to_numpy(dtype=np.float64))
    start = df["start_s"].to_numpy()
    ttft = df["ttft_ms"].to_numpy()
    streamed = ok & df["stream"].to_numpy() & np.isfinite(ttft)

    scale = 1.0 / width_s

    def add(times: np.ndarray, weights: np.ndarray) -> None:
        idx = (times * scale).astype(np.int64)  # times are >= 0: truncation is the floor
        np.minimum(idx, buckets - 1, out=idx)
        tokens[:] += np.bincount(idx, weights=weights, minlength=buckets)

    plain = ok & ~streamed
    add(df["end_s"].to_numpy()[plain], out_tokens[plain])
    lengths = np.diff(frame.itl_offsets)
    first_at = start + np.nan_to_num(ttft) / 1000.0
    per_chunk = np.where(streamed, out_tokens / (lengths + 1), 0.0)
    add(first_at[streamed], per_chunk[streamed])  # each answer's first content chunk, at its TTFT
    # The later chunks, a contiguous range of rows at a time (their gaps are one slice of itl_values).
    # An answer's chunks fall in the buckets from its first chunk's to its last chunk's; the chunks
    # before each bucket edge in between are counted by a binary search in the running sum of the gaps,
    # so the work per gap is one cumulative sum, not a bucket index each.
    n = df.shape[0]
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(frame.itl_offsets, frame.itl_offsets[lo] + _BATCH_GAPS, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        rows = np.arange(lo, hi)[streamed[lo:hi] & (lengths[lo:hi] > 0)]
        if rows.size:
            gaps = frame.itl_values[frame.itl_offsets[lo] : frame.itl_offsets[hi]]
            cum = np.cumsum(gaps)
            first_gap = frame.itl_offsets[rows] - frame.itl_offsets[lo]  # index of each row's first gap
            count = lengths[rows]
            before = np.where(first_gap > 0, cum[np.maximum(first_gap - 1, 0)], 0.0)  # earlier rows' gaps
            f = first_at[rows]
            last = f + (cum[first_gap + count - 1] - before) / 1000.0
            b_first = np.minimum((f * scale).astype(np.int64), buckets - 1)
            b_last = np.minimum((last * scale).astype(np.int64), buckets - 1)
            weight = per_chunk[rows]
            done = np.zeros(rows.size, dtype=np.int64)  # later chunks already given to a bucket
            k = 0
            active = np.flatnonzero(b_last > b_first)
            while active.size:
                bucket = b_first[active] + k
                edge_ms = ((bucket + 1) * width_s - f[active]) * 1000.0 + before[active]
                upto = np.searchsorted(cum, edge_ms, side="left") - first_gap[active]
                upto = np.clip(upto, 0, count[active])
                tokens[:] += np.bincount(
                    bucket, weights=weight[active] * (upto - done[active]), minlength=buckets
                )
                done[active] = upto
                k += 1
                active = active[b_first[active] + k < b_last[active]]
            rest = count - done
            tokens[:] += np.bincount(b_last, weights=weight * rest, minlength=buckets)
        lo = hi
    return edges, tokens / width_s


def _gaps_of(frame: RecordFrame, rows: np.ndarray) -> np.ndarray:
    """The chunk gaps of ``rows`` (increasing row indices), concatenated, without a Python loop per row."""
    lengths = np.diff(frame.itl_offsets)
    n = lengths[rows]
    starts = frame.itl_offsets[:-1][rows]
    idx = np.repeat(starts - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(int(n.sum()))
    return frame.itl_values[idx]


@dataclass(frozen=True)
class ErrorSeries:
    """Failed requests per bucket of end time, one series per (error kind, HTTP status)."""

    width_s: float
    edges_s: np.ndarray
    series: dict[tuple[str, int], np.ndarray]  # (kind, status) -> failed requests per bucket, largest first


def errors_over_time(
    frame: RecordFrame, mask: np.ndarray, run_end_s: float, *, max_buckets: int = 120
) -> ErrorSeries:
    """Failed requests per bucket, by kind and status (module docstring)."""
    df = frame.df
    width = next((w for w in WIDTHS_S if run_end_s / w <= max_buckets), WIDTHS_S[-1])
    edges = _edges(run_end_s, float(width))
    buckets = edges.size - 1
    failed = np.asarray(mask, dtype=bool) & ~df["ok"].to_numpy()
    bucket = np.clip((df["end_s"].to_numpy()[failed] // width).astype(np.int64), 0, buckets - 1)
    kinds = df.loc[failed, "error_kind"].astype(object).to_numpy()
    statuses = df["status"].to_numpy()[failed]
    series: dict[tuple[str, int], np.ndarray] = {}
    for kind, status in sorted({(str(k), int(s)) for k, s in zip(kinds, statuses, strict=True)}):
        sel = (kinds == kind) & (statuses == status)
        series[(kind, status)] = np.bincount(bucket[sel], minlength=buckets)
    ordered = dict(sorted(series.items(), key=lambda item: -int(item[1].sum())))
    return ErrorSeries(float(width), edges, ordered)


@dataclass(frozen=True)
class PositionProfile:
    """Chunk gaps by their position in the answer: per bin of positions, count, p50 and p95 (ms)."""

    lo: np.ndarray  # first position of each bin (1 = the gap before the second chunk)
    hi: np.ndarray  # last position of each bin
    counts: np.ndarray
    p50: np.ndarray
    p95: np.ndarray
    answers: int  # answers the profile was taken from
    of_answers: int  # answers with at least one gap (the sample's population)


def itl_by_position(frame: RecordFrame, mask: np.ndarray, *, bins: int = 30) -> PositionProfile:
    """ITL p50/p95 against the gap's position in the answer (module docstring)."""
    df = frame.df
    lengths = np.diff(frame.itl_offsets)
    rows = np.flatnonzero(np.asarray(mask, dtype=bool) & df["ok"].to_numpy() & (lengths > 0))
    population = int(rows.size)
    if rows.size > MAX_POSITION_ANSWERS:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAX_POSITION_ANSWERS, replace=False))
    empty = np.zeros(0)
    if rows.size == 0:
        return PositionProfile(empty, empty, empty.astype(np.int64), empty, empty, 0, 0)
    n = lengths[rows]
    gaps = _gaps_of(frame, rows)
    position = np.arange(int(n.sum())) - np.repeat(np.concatenate(([0], np.cumsum(n)[:-1])), n) + 1
    top = int(position.max())
    edges = np.unique(np.round(np.geomspace(1, top + 1, bins + 1)).astype(np.int64))
    if edges[-1] <= top:
        edges = np.append(edges, top + 1)
    which = np.searchsorted(edges, position, side="right") - 1
    lo, hi, counts, p50, p95 = [], [], [], [], []
    for b in range(edges.size - 1):
        values = gaps[which == b]
        if values.size == 0:
            continue
        lo.append(edges[b])
        hi.append(edges[b + 1] - 1)
        counts.append(values.size)
        m, t = np.percentile(values, (50.0, 95.0))
        p50.append(m)
        p95.append(t)
    return PositionProfile(
        np.array(lo),
        np.array(hi),
        np.array(counts, dtype=np.int64),
        np.array(p50),
        np.array(p95),
        int(rows.size),
        population,
    )
