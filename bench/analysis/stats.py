"""Exact statistics over raw values: the one percentile definition chatbench uses everywhere.

Percentiles are computed from the raw per-request values (never from Locust's rounded buckets) with
linear interpolation between closest ranks, the method NumPy calls ``"linear"`` (Hyndman and Fan
type 7, also the default of ``numpy.percentile`` and ``pandas.Series.quantile``, which vLLM's and
AIPerf's benchmarks use): for sorted values x_1..x_n and a fraction q, h = (n - 1) q,
p(q) = x_floor(h) + (h - floor(h)) (x_floor(h)+1 - x_floor(h)) (0-based).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "CONFIDENCE",
    "PERCENTILES",
    "describe",
    "interval_ranks",
    "min_samples",
    "percentile",
    "percentile_interval",
]

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)
"""The percentiles every latency table reports."""

MIN_SAMPLES = 10
"""The fewest values any percentile is read from (a median of three is an anecdote)."""

CONFIDENCE = 0.95
"""The confidence of every interval the reports draw."""


def min_samples(q: float) -> int:
    """The fewest values the q-th percentile (0..100) is judged from: n >= 10 and n (1 - q/100) >= 1.

    The second condition asks that at least one value lie above the percentile, so p95 needs 20 values,
    p99 100 and p99.9 1,000; below that the "p99" is the largest value seen, whatever the tail holds.
    The capacity sweep marks a step "not judged" for an SLO under this count, and the plots mark a time
    bucket or a group "too few" the same way.
    """
    tail = 1.0 - q / 100.0
    need = int(np.ceil(1.0 / tail - 1e-9)) if tail > 0 else 2**62
    return max(MIN_SAMPLES, need)


def interval_ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """The 1-based ranks (j, k) of ``percentile_interval`` for n values, or None (n < 2)."""
    if n < 2:
        return None
    from statistics import NormalDist

    p = q / 100.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    half = z * float(np.sqrt(n * p * (1.0 - p)))
    j = min(max(int(np.floor(n * p - half)), 1), n)
    k = min(max(int(np.ceil(n * p + half)), 1), n)
    return j, k


def percentile_interval(
    values: np.ndarray, q: float, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """A distribution-free confidence interval of the q-th percentile of ``values``, or None (n < 2).

    Order statistics: with n values and p = q/100, the count of values below the true percentile is
    Binomial(n, p); its normal approximation gives ranks j, k = n p -/+ z sqrt(n p (1 - p)) (z = 1.96 at
    95 %), rounded outwards and clipped to 1..n, and the interval is [x_(j), x_(k)] (1-based ranks).
    Needs no assumption about the shape of the distribution; one partial sort (``np.partition``).
    """
    ranks = interval_ranks(int(values.size), q, confidence)
    if ranks is None:
        return None
    j, k = ranks
    part = np.partition(values, (j - 1, k - 1))
    return float(part[j - 1]), float(part[k - 1])


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    """The q-th percentile (0 <= q <= 100) of ``values`` by linear interpolation; None when empty.

    NaN values are ignored (a request that has no such metric contributes nothing).
    """
    arr = np.asarray(values, dtype="float64")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return None
    return float(np.percentile(arr, q, method="linear"))


def describe(
    values: Sequence[float] | np.ndarray, percentiles: Iterable[float] = PERCENTILES
) -> Mapping[str, float | int | None]:
    """count, mean, min, max and the given percentiles (keys ``p50``, ``p99.9``...) of ``values``.

    NaN values are ignored; an empty input gives count 0 and None elsewhere.
    """
    arr = np.asarray(values, dtype="float64")
    arr = arr[~np.isnan(arr)]
    qs = list(percentiles)
    out: dict[str, float | int | None] = {"count": int(arr.size)}
    if arr.size == 0:
        out.update({"mean": None, "min": None, "max": None})
        out.update({_key(q): None for q in qs})
        return out
    out.update({"mean": float(arr.mean()), "min": float(arr.min()), "max": float(arr.max())})
    for q, v in zip(qs, np.percentile(arr, qs, method="linear"), strict=True):
        out[_key(q)] = float(v)
    return out


def _key(q: float) -> str:
    """50.0 -> 'p50', 99.9 -> 'p99.9'."""
    return f"p{q:g}"
