"""Ground truth: chatbench's own load generator against the mock's truth log, at 1 and 32 streams.

Each run drives the embedded mock (paced: 100 ms to the first token, 20 ms between chunks, 32 chunks)
with one load-generator process and Poisson arrivals that keep about 1 or 32 streams in flight, and
compares every record with what the mock logged it wrote (``bench.instrument.truth``). Every request is
paired, no chunk is lost, and the absolute error of TTFT, of every inter-chunk gap and of E2E stays within
the bounds of ``tests/timing_bounds.py``: a median within 5 ms and a p99 within 10 ms, which a real timing
bug (+50 ms) breaks and scheduler noise on a quiet 2-core machine (2 ms) does not. The sub-millisecond
figures chatbench reaches (p99 under 1 ms up to about 64 streams) are measured, not asserted, by
``benchmarks/truth_sweep.py`` and ``chatbench calibrate`` and quoted in the README. A failure message
carries the load generator's CPU and the other load on the machine during the window.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis.bottleneck import assess
from bench.instrument.calibrate import CalibrationSettings, StepResult, run_step
from bench.instrument.cpu import wait_for_quiet
from tests.timing_bounds import MEDIAN_MS, noisy, stall_story, tail_limit_ms, timing_test

SETTINGS = CalibrationSettings(step_s=8.0, ramp_s=1.0, warmup_s=1.0)


def explain(step: StepResult) -> str:
    t = step.truth
    return (
        f"{step.users} streams: p99 |error| TTFT {t['ttft']['p99_ms']}, ITL {t['itl']['p99_ms']}, "
        f"E2E {t['e2e']['p99_ms']} ms (max {t['ttft']['max_ms']}, {t['itl']['max_ms']}, {t['e2e']['max_ms']}); "
        f"load generator {step.lg_cpu_pct} % of a core; other load on the machine "
        f"{step.foreign_cores} cores during the window; {step.requests} requests compared"
    )


@pytest.mark.slow
@pytest.mark.parametrize("streams", [1, 32])
@timing_test
def test_client_timing_error_within_the_bounds(streams: int, tmp_path: Path) -> None:
    wait_for_quiet(10.0)  # on a shared machine, start in a quiet moment if one comes within 10 s
    step, run_dir = run_step("stream", streams, SETTINGS, tmp_path)
    assert step.failed == 0, explain(step)
    assert step.requests >= 5 * streams, explain(step)
    assert step.in_flight == pytest.approx(streams, rel=0.5), explain(step)  # the load asked for
    assert step.truth["records_without_truth"] == 0 and step.truth["chunk_mismatch"] == 0, step.truth
    assert step.truth["itl"]["count"] >= step.requests * 30  # every gap of every request was paired
    assert step.lg_cpu_pct is not None and step.lg_cpu_pct < 50.0, explain(step)
    noise = noisy(run_dir)
    for metric in ("ttft", "itl", "e2e"):
        assert step.truth[metric]["p50_ms"] <= MEDIAN_MS, f"{metric}: " + explain(step)
        limit = tail_limit_ms(noise, run_dir)  # the stall the run reported, at most
        assert step.truth[metric]["p99_ms"] <= limit, (
            f"{metric} ({noise}; {stall_story(run_dir)}): " + explain(step)
        )
    # A light run is not flagged by the bottleneck check, unless the machine itself was busy: then the
    # event loop did wake late and the flag is right.
    if noise is None:
        assert not assess(run_dir).inflated, assess(run_dir).message
