"""Exact statistics over raw values: the one percentile definition chatbench uses everywhere.

Percentiles are computed from the raw per-request values (never from Locust's rounded buckets) with
linear interpolation between closest ranks, the method NumPy calls ``"linear"`` (Hyndman and Fan
type 7, also the default of ``numpy.percentile`` and ``pandas.Series.quantile``, which vLLM's and
AIPerf's benchmarks use): for sorted values x_1..x_n and a fraction q, h = (n - 1) q,
p(q) = x_floor(h) + (h - floor(h)) (x_floor(h)+1 - x_floor(h)) (0-based).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

__all__ = [
    "CONFIDENCE",
    "PERCENTILES",
    "describe",
    "describe_pieces",
    "interval_ranks",
    "judged",
    "min_samples",
    "percentile",
    "percentile_interval",
    "quantiles",
    "quantiles_with_intervals",
]

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)
"""The percentiles every latency table reports."""

MIN_SAMPLES = 10
"""The fewest values any percentile is read from (a median of three is an anecdote)."""

TAIL_VALUES = 5
"""How many values must lie beyond a percentile for it to be judged (``min_samples``)."""

CONFIDENCE = 0.95
"""The confidence of every interval the reports draw."""


def min_samples(q: float) -> int:
    """The one "not judged" rule: the fewest values the q-th percentile (0..100) is judged from.

    n >= 10 and n (1 - q/100) >= 5: at least ``TAIL_VALUES`` values lie above the percentile, so p50
    and p90 need 10 and 50 values, p95 100, p99 500 and p99.9 5,000. With fewer, the percentile is one of
    the last few values, and its 95 % distribution-free interval (``percentile_interval``) reaches the
    largest value seen: whatever it measured, it can neither pass nor breach a limit. The SLO gate,
    the capacity steps, ``compare``, the report's plots and breakdowns all use this function
    (``judged``); docs/metrics.md states the rule.
    """
    tail = 1.0 - q / 100.0
    need = int(np.ceil(TAIL_VALUES / tail - 1e-9)) if tail > 0 else 2**62
    return max(MIN_SAMPLES, need)


def judged(stat: str | None, samples: int) -> bool:
    """Whether a statistic (``p95``, ``mean``, ``max``; None for a rate) from ``samples`` values is judged.

    A percentile needs ``min_samples`` values; other statistics (mean, max, the error rate) are judged
    from any number of values (a maximum is a maximum, and an error rate carries its own count).
    """
    if stat is None or not stat.startswith("p"):
        return True
    return samples >= min_samples(float(stat[1:]))


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


SELECT_ABOVE = 1 << 20
"""Arrays longer than this get their percentiles by ``_radix_select`` (no copy, no partition of the whole)."""
_KEY_BITS = 20  # buckets of the radix selection: the top 20 bits of the order-preserving key
_CHUNK = 1 << 20  # values keyed at a time (bounded temporaries)
_SIGN_I = np.int64(-(1 << 63))  # the sign bit


def quantiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """The q-th percentiles (0..100) of the float64 ``values`` (no NaN), bit for bit ``np.percentile``'s.

    The same rule (h = (n - 1) q / 100, interpolated between the order statistics floor(h) and
    floor(h) + 1 with NumPy's own lerp). Up to ``SELECT_ABOVE`` values it is ``np.percentile`` itself.
    Beyond, the order statistics come from ``_radix_select``, which neither copies nor reorders
    ``values``: a 31-million-gap ITL array is read three times instead of copied and partitioned.
    """
    arr = np.asarray(values, dtype=np.float64)
    n = int(arr.size)
    if n == 0:
        return [math.nan for _ in qs]
    if n <= SELECT_ABOVE:
        return [float(v) for v in np.percentile(arr, list(qs), method="linear")]
    lo_idx, hi_idx, gamma = _interpolation(n, qs)
    ranks = np.unique(np.concatenate((lo_idx, hi_idx)))
    stats = dict(zip(ranks.tolist(), _radix_select(arr, ranks), strict=True))
    return _lerp(stats, lo_idx, hi_idx, gamma)


def quantiles_with_intervals(
    scratch: np.ndarray, qs: Sequence[float], confidence: float = CONFIDENCE
) -> list[tuple[float, tuple[float, float] | None]]:
    """Each q-th percentile of ``scratch`` (no NaN, at least one value) with its ``percentile_interval``,
    from one partition of ``scratch`` in place: the caller's own copy, left reordered.

    The same figures as ``np.percentile`` and ``percentile_interval`` (one partition instead of four).
    """
    n = int(scratch.size)
    lo_idx, hi_idx, gamma = _interpolation(n, qs)
    bounds = [interval_ranks(n, q, confidence) for q in qs]
    extra = [r - 1 for b in bounds if b is not None for r in b]
    ranks = np.unique(np.concatenate((lo_idx, hi_idx, np.asarray(extra, dtype=np.intp))))
    scratch.partition(ranks)
    stats = {int(r): float(scratch[r]) for r in ranks}
    values = _lerp(stats, lo_idx, hi_idx, gamma)
    return [
        (v, None if b is None else (stats[b[0] - 1], stats[b[1] - 1]))
        for v, b in zip(values, bounds, strict=True)
    ]


def _interpolation(n: int, qs: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.percentile``'s linear rule for n values: the ranks each side of h = (n - 1) q / 100, and the
    weight of the upper one (its ``_get_indexes`` and ``_get_gamma``)."""
    fractions = np.true_divide(np.asarray(list(qs), dtype=np.float64), 100)
    virtual = (n - 1) * fractions
    prev = np.floor(virtual)
    nxt = prev + 1
    above, below = virtual >= n - 1, virtual < 0
    prev[above], nxt[above] = n - 1, n - 1
    prev[below], nxt[below] = 0, 0
    gamma = virtual - np.floor(virtual)
    return prev.astype(np.intp), nxt.astype(np.intp), gamma


def _lerp(
    stats: Mapping[int, float], lo_idx: np.ndarray, hi_idx: np.ndarray, gamma: np.ndarray
) -> list[float]:
    """NumPy's ``_lerp`` between the order statistics, operation for operation (the same bits)."""
    a = np.array([stats[i] for i in lo_idx.tolist()], dtype=np.float64)
    b = np.array([stats[i] for i in hi_idx.tolist()], dtype=np.float64)
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return [float(v) for v in out]


def _keys(chunk: np.ndarray) -> np.ndarray:
    """Bucket numbers of float64 values, in the order of the values (an order-preserving bit map)."""
    bits = np.ascontiguousarray(chunk).view(np.int64)
    # Negatives: every bit flipped; the others: the sign bit set (``>> 63`` is all ones for a negative).
    key = (bits ^ ((bits >> 63) | _SIGN_I)).view(np.uint64)
    return (key >> np.uint64(64 - _KEY_BITS)).astype(np.intp)


Pieces = Callable[[], Iterator[np.ndarray]]
"""Values handed over in pieces: each call yields them again (float64, no NaN), a bounded piece at a time."""


def _slices(arr: np.ndarray) -> Pieces:
    return lambda: (arr[lo : lo + _CHUNK] for lo in range(0, arr.size, _CHUNK))


def _radix_select(arr: np.ndarray | None, ranks: np.ndarray, pieces: Pieces | None = None) -> list[float]:
    """The values of 0-based ``ranks`` in the sorted values, exactly, without sorting (or copying) them.

    The values are ``arr``, or what ``pieces`` yields (then ``arr`` is None). Pass 1 counts the values
    per bucket of their top key bits (``_keys``); the cumulative counts name the bucket each rank falls
    in. Pass 2 takes out only the values of those buckets (a few per cent of them) and sorts them: the
    rank's value is at its place among them. When the wanted buckets hold more than a quarter of the
    values (values piled on a few numbers), one partition of a copy of them all.
    """
    each = pieces if pieces is not None else _slices(arr)  # type: ignore[arg-type]
    counts = np.zeros(1 << _KEY_BITS, dtype=np.int64)
    for piece in each():
        for lo in range(0, piece.size, _CHUNK):
            counts += np.bincount(_keys(piece[lo : lo + _CHUNK]), minlength=counts.size)
    cum = np.cumsum(counts)
    total = int(cum[-1])
    buckets = np.searchsorted(cum, ranks, side="right")  # cum[b - 1] <= rank < cum[b]
    wanted = np.unique(buckets)
    if counts[wanted].sum() > total // 4:
        part = np.partition(arr if arr is not None else np.concatenate(list(each())), ranks)
        return [float(part[r]) for r in ranks.tolist()]
    take = np.zeros(counts.size, dtype=bool)
    take[wanted] = True
    picked = np.sort(
        np.concatenate(
            [
                c[take[_keys(c)]]
                for piece in each()
                for c in (piece[lo : lo + _CHUNK] for lo in range(0, piece.size, _CHUNK))
            ]
        )
    )
    # Rank r sits in bucket b at r - cum[b - 1]; before bucket b in ``picked`` are the wanted buckets < b.
    below = np.concatenate(([0], np.cumsum(counts[wanted])))[np.searchsorted(wanted, buckets)]
    first = np.where(buckets > 0, cum[np.maximum(buckets - 1, 0)], 0)
    return [float(v) for v in picked[ranks - first + below]]


def describe_pieces(
    pieces: Pieces, percentiles: Iterable[float] = PERCENTILES
) -> Mapping[str, float | int | None]:
    """``describe`` of values handed over in pieces (the chunk gaps of selected requests), never joined.

    The same figures as ``describe`` of the joined values: the percentiles bit for bit (the radix
    selection over the pieces); the mean is the exactly rounded sum of the pieces' sums over the count
    (``math.fsum``), which may differ from NumPy's pairwise mean of the joined array in its last bit.
    """
    qs = list(percentiles)
    n, sums, lo, hi = 0, [], math.inf, -math.inf
    for piece in pieces():
        if piece.size:
            n += int(piece.size)
            sums.append(float(piece.sum()))
            lo, hi = min(lo, float(piece.min())), max(hi, float(piece.max()))
    out: dict[str, float | int | None] = {"count": n}
    if n == 0:
        out.update({"mean": None, "min": None, "max": None})
        out.update({_key(q): None for q in qs})
        return out
    out.update({"mean": math.fsum(sums) / n, "min": lo, "max": hi})
    lo_idx, hi_idx, gamma = _interpolation(n, qs)
    ranks = np.unique(np.concatenate((lo_idx, hi_idx)))
    stats = dict(zip(ranks.tolist(), _radix_select(None, ranks, pieces), strict=True))
    for q, v in zip(qs, _lerp(stats, lo_idx, hi_idx, gamma), strict=True):
        out[_key(q)] = v
    return out


def describe(
    values: Sequence[float] | np.ndarray, percentiles: Iterable[float] = PERCENTILES
) -> Mapping[str, float | int | None]:
    """count, mean, min, max and the given percentiles (keys ``p50``, ``p99.9``...) of ``values``.

    NaN values are ignored; an empty input gives count 0 and None elsewhere.
    """
    arr = np.asarray(values, dtype="float64")
    missing = np.isnan(arr)
    if missing.any():
        arr = arr[~missing]  # no copy of (tens of millions of) values that have no NaN
    qs = list(percentiles)
    out: dict[str, float | int | None] = {"count": int(arr.size)}
    if arr.size == 0:
        out.update({"mean": None, "min": None, "max": None})
        out.update({_key(q): None for q in qs})
        return out
    out.update({"mean": float(arr.mean()), "min": float(arr.min()), "max": float(arr.max())})
    for q, v in zip(qs, quantiles(arr, qs), strict=True):
        out[_key(q)] = v
    return out


def _key(q: float) -> str:
    """50.0 -> 'p50', 99.9 -> 'p99.9'."""
    return f"p{q:g}"
