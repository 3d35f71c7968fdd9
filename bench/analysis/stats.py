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

__all__ = ["PERCENTILES", "describe", "percentile"]

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)
"""The percentiles every latency table reports."""


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
