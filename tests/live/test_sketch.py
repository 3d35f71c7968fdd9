"""The live sketch: every percentile within the stated relative error, batched adds equal to one-by-one adds."""

from __future__ import annotations

from array import array

import numpy as np
import pytest

from bench.live.sketch import RELATIVE_ACCURACY, Sketch
from bench.stats import percentile

PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9)


def _data(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # three populations a chat server produces: TTFT-like, E2E-like, chunk gaps with zeros
    return np.concatenate(
        [
            rng.lognormal(3.5, 0.6, 20_000),
            rng.lognormal(7.0, 0.8, 20_000),
            rng.exponential(15, 20_000),
            [0.0] * 50,
        ]
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_percentile_is_within_the_stated_error_of_the_exact_one(seed: int) -> None:
    values = _data(seed)
    sketch = Sketch()
    sketch.add_many(array("d", values.tolist()))
    for p in PERCENTILES:
        exact = percentile(values, p)
        live = sketch.quantile(p / 100)
        assert live is not None
        # the stated bound: within RELATIVE_ACCURACY (0.5 %) of the exact interpolated percentile
        assert abs(live - exact) <= RELATIVE_ACCURACY * exact + 1e-9, (p, live, exact)


def test_batched_adds_make_the_same_buckets_as_one_by_one_adds() -> None:
    values = _data(7)
    batched = Sketch()
    batched.add_many(array("d", values.tolist()))
    single = Sketch()
    for v in values.tolist():
        single.add(v)
    for q in np.linspace(0, 1, 201):
        assert batched.quantile(float(q)) == single.quantile(float(q))
    assert batched.count == len(values)


def test_merged_pieces_equal_one_sketch_of_everything() -> None:
    values = _data(4)
    whole = Sketch()
    whole.add_many(values)
    pieces = []
    for part in np.array_split(values, 7):
        s = Sketch()
        s.add_many(part)
        pieces.append(s)
    merged = Sketch.merged(pieces)
    for p in PERCENTILES:
        assert merged.quantile(p / 100) == whole.quantile(p / 100)


def test_statistics_of_an_empty_sketch_are_none_and_mean_max_are_close() -> None:
    empty = Sketch()
    assert empty.quantile(0.5) is None and empty.stat("p95") is None and empty.stat("mean") is None
    s = Sketch()
    s.add_many(array("d", [10.0, 20.0, 30.0, 40.0, 1000.0] * 4))
    assert s.stat("mean") == pytest.approx(220.0, rel=RELATIVE_ACCURACY)
    assert s.stat("max") == pytest.approx(1000.0, rel=RELATIVE_ACCURACY)
    with pytest.raises(ValueError, match="unknown statistic"):
        s.stat("median")
