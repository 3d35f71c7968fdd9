"""The timing tests' bounds (tests/timing_bounds.py) pass scheduler noise and fail a real timing bug."""

from __future__ import annotations

import numpy as np

from tests.timing_bounds import BUG_MS, MEDIAN_MS, NOISE_MS, NOISY_TAIL_MS, TAIL_MS, timing_failure


def test_the_bounds_sit_between_noise_and_bug():
    assert NOISE_MS < MEDIAN_MS <= TAIL_MS < NOISY_TAIL_MS < BUG_MS


def test_two_ms_of_scheduler_noise_passes_even_on_every_timestamp():
    rng = np.random.default_rng(1)
    quiet = rng.uniform(0.0, 0.3, 5000)
    assert timing_failure(quiet) is None
    late = quiet + np.where(rng.random(5000) < 0.05, NOISE_MS, 0.0)  # 5 % of wake-ups 2 ms late
    assert timing_failure(late) is None
    assert timing_failure(quiet + NOISE_MS) is None  # even all of them


def test_a_fifty_ms_batching_bug_fails_even_on_a_few_percent_of_timestamps():
    rng = np.random.default_rng(2)
    quiet = rng.uniform(0.0, 0.3, 5000)
    batched = quiet + np.where(rng.random(5000) < 0.02, BUG_MS, 0.0)  # 2 % of chunks held back 50 ms
    assert timing_failure(batched) is not None
    assert timing_failure(batched, noise="load average 3.0") is not None  # also on a busy machine
    assert "median" in (timing_failure(quiet + BUG_MS) or "")
