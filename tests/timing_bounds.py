"""The pass/fail bounds of the timing tests: between scheduler noise and a real timing bug.

On a quiet 2-core CI machine the kernel can wake a process about ``NOISE_MS`` (2 ms) late at any
moment, and a p99 over a few thousand timestamps catches such a moment (the 2.04 ms p99 that failed a
fresh CI run against a 1 ms bound was one). A real timing bug in chatbench or the mock (a reader that
batches events, a timer that fires a tick late, a flush that waits) moves timestamps by tens of
milliseconds: the smallest one the tests must catch is ``BUG_MS`` (+50 ms, a batching bug). The bounds
sit between the two, with a wide margin on each side:

- ``MEDIAN_MS`` (5 ms): the median error, which noise never moves by more than its own size;
- ``TAIL_MS`` (10 ms): the p90/p99 error on a quiet machine (5x the noise, a fifth of the bug);
- ``NOISY_TAIL_MS`` (25 ms): the tail when the machine is visibly busy (``noisy``), still half the bug.

The sub-millisecond accuracy chatbench reaches is a measured figure, not a pass/fail bound: it is printed
by ``benchmarks/truth_sweep.py`` and ``chatbench calibrate`` and quoted in the README with its range.
``tests/test_timing_bounds.py`` checks that these bounds pass 2 ms of noise and fail a 50 ms bug.

Beyond the scheduler's 2 ms, CI machines stall now and then: full CI runs of this repository on a quiet
2-core VM saw one timing test in ~760 fail per run, each time with p99 errors of 50-120 ms on a few
requests while the load generator used 6 % of a core and nothing else ran, and each passed when run
again. A test marked ``timing_test`` is therefore run once more when an assertion fails: a real timing
bug moves every run (it fails both), a stall of the machine does not come back at the same place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson
import pytest

from bench.stats import percentile

timing_test = pytest.mark.flaky(reruns=1, only_rerun=["AssertionError"])
"""Marks a test judged by these bounds: one more run when it fails (see the module docstring)."""

NOISE_MS = 2.0
BUG_MS = 50.0
MEDIAN_MS = 5.0
TAIL_MS = 10.0
NOISY_TAIL_MS = 25.0
LAG_NOISE_MS = 5.0  # the run's own monitor saw its event loop wake this late: the machine was busy


def noisy(run_dir: Path | None = None) -> str | None:
    """Why this moment's tail cannot be held to ``TAIL_MS``, or None on a quiet machine: the load
    average is above 75 % of the cores, or the run's own monitor saw its event loop wake late."""
    load = os.getloadavg()[0]
    if load >= 0.75 * (os.cpu_count() or 1):
        return f"load average {load:.1f}"
    if run_dir is not None:
        lags = [
            orjson.loads(line)["loop_lag_ms"]
            for p in (run_dir / "monitor").glob("*.jsonl")
            for line in p.read_bytes().splitlines()
        ]
        if lags and max(lags) > LAG_NOISE_MS:
            return f"event loop woke {max(lags):.0f} ms late"
    return None


def tail_limit_ms(noise: str | None) -> float:
    return NOISY_TAIL_MS if noise else TAIL_MS


def timing_failure(
    errors_ms: Sequence[float] | Iterable[float], *, tail: float = 99.0, noise: str | None = None
) -> str | None:
    """Why these absolute timing errors (ms) fail the bounds, or None when they pass."""
    values = [abs(float(e)) for e in errors_ms]
    if not values:
        return "no timing value to check"
    p50, high = percentile(values, 50), percentile(values, tail)
    limit = tail_limit_ms(noise)
    if p50 > MEDIAN_MS:
        return f"median error {p50:.2f} ms > {MEDIAN_MS} ms"
    if high > limit:
        return f"p{tail:g} error {high:.2f} ms > {limit} ms" + (f" (busy machine: {noise})" if noise else "")
    return None
