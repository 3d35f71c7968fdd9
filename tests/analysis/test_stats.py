"""The fast exact percentiles equal the simple formula (``np.percentile``, linear) bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from bench import stats

QS = (0.0, 0.1, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0)


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.gamma(4.0, 3.0, n),  # ITL-like, right-skewed
        lambda rng, n: rng.normal(0.0, 5.0, n),  # negative values too (client lag)
        lambda rng, n: np.round(rng.lognormal(2.0, 1.0, n), 4),  # rounded to 0.1 µs, as records are
        lambda rng, n: rng.integers(0, 3, n).astype(np.float64),  # values piled on three numbers
    ],
)
def test_radix_selection_equals_np_percentile(draw, monkeypatch):
    monkeypatch.setattr(stats, "SELECT_ABOVE", 1000)  # take the fast path on small arrays too
    rng = np.random.default_rng(7)
    for n in (1001, 1002, 4097, 50_000):
        values = draw(rng, n)
        before = values.copy()
        assert stats.quantiles(values, QS) == [float(v) for v in np.percentile(values, QS)]
        assert np.array_equal(values, before)  # neither copied into nor reordered


def test_radix_selection_has_the_known_answers():
    values = np.arange(2_000_001, dtype=np.float64)[::-1].copy()  # 0..2,000,000, above SELECT_ABOVE
    assert values.size > stats.SELECT_ABOVE
    assert stats.quantiles(values, (0, 50, 99, 100)) == [0.0, 1_000_000.0, 1_980_000.0, 2_000_000.0]
    assert stats.quantiles(values + 0.5, (50,)) == [1_000_000.5]


def test_quantiles_with_intervals_are_np_percentile_and_percentile_interval():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 19, 20, 21, 100, 1001, 12_345):
        values = rng.gamma(2.0, 3.0, n)
        got = stats.quantiles_with_intervals(values.copy(), (50.0, 95.0))
        for q, (value, interval) in zip((50.0, 95.0), got, strict=True):
            assert value == float(np.percentile(values, q))
            assert interval == stats.percentile_interval(values, q)


def test_describe_keeps_its_figures_without_copying_clean_input():
    values = np.array([3.0, np.nan, 1.0, 2.0])
    out = stats.describe(values)
    assert out == {"count": 3, "mean": 2.0, "min": 1.0, "max": 3.0} | {
        f"p{q:g}": float(np.percentile([1.0, 2.0, 3.0], q)) for q in stats.PERCENTILES
    }
    assert stats.describe(np.array([]))["p50"] is None


def test_describe_pieces_is_describe_of_the_joined_pieces(monkeypatch):
    monkeypatch.setattr(stats, "_CHUNK", 1000)  # pieces cut in chunks inside the radix selection too
    rng = np.random.default_rng(11)
    parts = [rng.gamma(3.0, 4.0, int(k)) for k in rng.integers(0, 5000, 9)]
    joined = np.concatenate(parts)
    got = stats.describe_pieces(lambda: iter(parts))
    want = stats.describe(joined)
    assert got["count"] == want["count"] and got["min"] == want["min"] and got["max"] == want["max"]
    assert got["mean"] == pytest.approx(want["mean"], rel=1e-15)
    assert {k: v for k, v in got.items() if k.startswith("p")} == {
        k: float(np.percentile(joined, float(k[1:]))) for k in want if k.startswith("p")
    }
    assert stats.describe_pieces(lambda: iter([np.zeros(0)]))["p50"] is None


def test_one_not_judged_rule_for_every_reader():
    from bench.capacity.plan import judged as step_judged
    from bench.gates.slo import SloCheck, SloVerdict, format_verdict

    assert [stats.min_samples(q) for q in (50, 90, 95, 99, 99.9)] == [10, 50, 100, 500, 5000]
    assert stats.judged("p95", 100) and not stats.judged("p95", 99)
    assert stats.judged("max", 1) and stats.judged(None, 0) and stats.judged("mean", 2)
    few = SloCheck("ttft_ms", "p99", 500.0, 120.0, 499, True)
    enough = SloCheck("ttft_ms", "p99", 500.0, 120.0, 500, True)
    assert not few.judged and enough.judged and not step_judged(few) and step_judged(enough)
    assert "from 499 values, fewer than a firm p99 needs (500)" in few.describe()
    assert few.to_dict()["judged"] is False and "fewer than a firm" not in enough.describe()
    # The headline says it too: a PASS resting on soft percentiles reads as such.
    head = format_verdict(SloVerdict((few, enough), 600, 0)).splitlines()[0]
    assert head.startswith("SLO gate: PASS - all 2 SLOs met; 1 of 2 from fewer values than a firm")
    assert "fewer" not in format_verdict(SloVerdict((enough,), 600, 0)).splitlines()[0]
