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


def _monitor(tmp_path, late_ms, lag_ms=None):  # type: ignore[no-untyped-def]
    import orjson

    lag_ms = lag_ms or late_ms
    rows = [
        {"t_s": 1.7e9 + i, "worker": "local", "cpu_pct": 10.0, "loop_lag_ms": g, "late_ms": s, "majflt": 0}
        for i, (s, g) in enumerate(zip(late_ms, lag_ms, strict=True))
    ]
    (tmp_path / "monitor").mkdir(exist_ok=True)
    (tmp_path / "monitor" / "local.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return tmp_path


def test_the_tail_allows_a_stall_the_run_reported_and_only_that(tmp_path):  # type: ignore[no-untyped-def]
    # the load generator said its loop was late 130 ms over two seconds in a row (90 + 40): a chunk in
    # that stretch may be that late, and the summary names the 90 ms stall
    run = _monitor(tmp_path, [0.0, 0.0, 90.0, 40.0, 0.0, 0.0], [0.5, 0.5, 90.0, 40.0, 0.5, 0.5])
    assert timing_bounds.own_stall_ms(run) == 130.0
    assert timing_bounds.tail_limit_ms(None, run) == TAIL_MS + 130.0
    assert timing_bounds.stall_said(run)
    # a few ms of lateness a second is no excuse: the quiet bound keeps its bite
    quiet = _monitor(tmp_path, [3.0, 4.0, 2.0, 5.0, 3.0, 1.0])
    assert timing_bounds.own_stall_ms(quiet) == 0.0
    assert timing_bounds.tail_limit_ms(None, quiet) == TAIL_MS
