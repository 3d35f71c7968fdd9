"""Ground truth: chatbench's own load generator against the mock's truth log, at 1 and 32 streams.

Each run drives the embedded mock (paced: 100 ms to the first token, 20 ms between chunks, 32 chunks)
with one load-generator process and Poisson arrivals that keep about 1 or 32 streams in flight, and compares every record with what the mock logged it wrote
(``bench.instrument.truth``). The claim checked is the one ``docs/metrics.md`` makes: while the load generator
stays below about half a core, the p99 of the absolute error of TTFT, of every inter-chunk gap and of
E2E is at most 1 ms. 32 streams is the concurrency CI can afford for a 1 ms bound: at 64 streams the
worst p99 measured on a quiet machine was 0.78-1.14 ms (24 % of a core), too close to the bound for a
test that must not flake; ``benchmarks/truth_sweep.py`` measures 1/64/256/512 streams and
``tests/load/test_runs.py`` holds 64 streams to 2 ms at p99. The machine may be shared: a failure message carries the load generator's CPU
and the other load measured on the machine during the window, so a reader can tell the two apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis.bottleneck import assess
from bench.instrument.calibrate import CalibrationSettings, StepResult, run_step
from bench.instrument.cpu import wait_for_quiet

LIMIT_MS = 1.0
SETTINGS = CalibrationSettings(step_s=8.0, ramp_s=1.0, warmup_s=1.0, error_limit_ms=LIMIT_MS)


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
def test_client_timing_error_p99_within_1ms(streams: int, tmp_path: Path) -> None:
    wait_for_quiet(10.0)  # on a shared machine, start in a quiet moment if one comes within 10 s
    step, run_dir = run_step("stream", streams, SETTINGS, tmp_path)
    assert step.failed == 0, explain(step)
    assert step.requests >= 5 * streams, explain(step)
    assert step.in_flight == pytest.approx(streams, rel=0.5), explain(step)  # the load asked for
    assert step.truth["records_without_truth"] == 0 and step.truth["chunk_mismatch"] == 0, step.truth
    assert step.truth["itl"]["count"] >= step.requests * 30  # every gap of every request was paired
    assert step.lg_cpu_pct is not None and step.lg_cpu_pct < 50.0, explain(step)
    for metric in ("ttft", "itl", "e2e"):
        assert step.truth[metric]["p99_ms"] <= LIMIT_MS, f"{metric}: " + explain(step)
    # A light run is not flagged by the bottleneck check.
    assert not assess(run_dir).inflated, assess(run_dir).message
