"""The timing tests' bounds (tests/timing_bounds.py) pass scheduler noise and fail a real timing bug."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from tests import timing_bounds
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


def test_the_stall_probe_sees_the_machine_stall_and_not_a_stall_of_the_test_process_alone():
    probe = timing_bounds.StallProbe()
    timing_bounds.PROBE = probe
    try:
        time.sleep(0.3)
        busy_until = time.monotonic() + 0.15  # this process alone stalls (a long computation)
        while time.monotonic() < busy_until:
            pass
        time.sleep(0.1)
        assert timing_bounds.machine_stall_ms() < 40.0, probe.stalls_ms()
        os.kill(probe._proc.pid, signal.SIGSTOP)  # every process held 120 ms, as a frozen VM holds them
        time.sleep(0.12)
        os.kill(probe._proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 5.0
        while timing_bounds.machine_stall_ms() < 100.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        stall = timing_bounds.machine_stall_ms()
        assert 100.0 <= stall < 1000.0, probe.stalls_ms()
        rng = np.random.default_rng(3)
        errors = rng.uniform(0.0, 0.3, 500)
        errors[:10] = stall  # the few requests in flight through the stall (2 %)
        assert timing_failure(errors, noise=timing_bounds.noisy()) is None
        assert timing_failure(errors + BUG_MS, noise=timing_bounds.noisy()) is not None  # the median holds
    finally:
        timing_bounds.PROBE = None
        probe.close()
    assert timing_failure(errors) is not None  # without the stall seen, the same tail fails
