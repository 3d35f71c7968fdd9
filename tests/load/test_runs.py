"""Whole runs through ``run_load``: real mock, real Locust subprocesses, checked against the mock's truth log.

Timing is checked as the client's error against the times the mock logged writing each chunk (both
read CLOCK_MONOTONIC), within the bounds of ``tests/timing_bounds.py`` (median 5 ms, p99 10 ms): they
catch a real timing bug (+50 ms) and pass scheduler noise (2 ms). The sub-millisecond figures are
measured by ``benchmarks/truth_sweep.py``; the 64-stream test is marked slow.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.instrument.truth import TruthReport, compare_run, read_records, read_truth_log
from bench.load.runner import run_load
from tests.load.helpers import write_scenario
from tests.timing_bounds import (
    MEDIAN_MS,
    noisy,
    own_stall_ms,
    stall_said,
    stall_story,
    tail_limit_ms,
    timing_test,
)


def _check_timing(report: TruthReport, run_dir: Path, *, itl: bool = True) -> None:
    """TTFT (and every chunk gap) within the bounds of ``tests/timing_bounds.py``: median 5 ms, p99 10 ms
    (25 ms on a visibly busy machine), which a +50 ms batching bug breaks and 2 ms of noise does not."""
    noise = noisy(run_dir)
    for name, stats in (("ttft", report.ttft), ("itl", report.itl)) if itl else (("ttft", report.ttft),):
        assert stats.p50_ms is not None and stats.p99_ms is not None, report.summary_line()
        assert stats.p50_ms <= MEDIAN_MS, f"{name}: {report.summary_line()}"
        limit = tail_limit_ms(noise, run_dir)
        assert stats.p99_ms <= limit, f"{name} ({noise}; {stall_story(run_dir)}): {report.summary_line()}"
    if own_stall_ms(run_dir):  # a stall the bound allowed is one the run told its user of
        assert stall_said(run_dir), stall_story(run_dir)


def _truth_lines(run_dir: Path) -> int:
    return len((run_dir / "mock" / "truth.jsonl").read_bytes().splitlines())


def _run(scenario: Path, tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return run_load(scenario, results_dir=tmp_path / "results", progress=False, **kw)  # type: ignore[arg-type]


@timing_test
def test_ttft_and_gaps_match_the_mock_truth_at_one_stream(tmp_path: Path) -> None:
    outcome = _run(write_scenario(tmp_path, load={"users": 1, "duration_s": 4}), tmp_path)
    assert outcome.exit_code == 0 and outcome.records >= 3
    assert outcome.truth_log is not None
    report = compare_run(outcome.run_dir, outcome.truth_log)
    assert report.matched == outcome.records and not report.chunk_mismatch
    _check_timing(report, outcome.run_dir)
    records = read_records(outcome.run_dir)
    assert all(r.ttft_ms is not None and 199 < r.ttft_ms < 230 for r in records)
    assert all(r.chunks == 50 and r.output_tokens == 50 for r in records)
    # the parquet file has every record, ITL as a list column
    table = pq.read_table(outcome.records_path)
    assert table.num_rows == outcome.records
    assert pa.types.is_list(table.schema.field("itl_ms").type)
    assert (outcome.run_dir / "scenario.json").is_file() and (outcome.run_dir / "run.json").is_file()
    assert list((outcome.run_dir / "monitor").glob("*.jsonl"))
    assert (outcome.run_dir / "locust" / "stats.json").is_file()


@timing_test
def test_multi_token_chunks_and_role_chunk_do_not_move_ttft_and_non_streams_have_none(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path, mock={"tokens_per_chunk": 4}, stream={"ratio": 0.5}, load={"users": 4, "duration_s": 4}
    )
    outcome = _run(scenario, tmp_path)
    records = read_records(outcome.run_dir)
    streamed = [r for r in records if r.stream]
    plain = [r for r in records if not r.stream]
    assert streamed and plain and all(r.ok for r in records)
    assert all(r.ttft_ms is None and r.e2e_ms is not None for r in plain)
    assert all(r.chunks == 13 for r in streamed)  # 50 tokens, 4 per chunk
    assert outcome.truth_log is not None
    report = compare_run(outcome.run_dir, outcome.truth_log)
    _check_timing(report, outcome.run_dir, itl=False)


@pytest.mark.slow
@timing_test
def test_timing_holds_at_64_concurrent_streams(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, load={"users": 64, "spawn_rate": 32, "duration_s": 5})
    outcome = _run(scenario, tmp_path)
    assert outcome.truth_log is not None
    report = compare_run(outcome.run_dir, outcome.truth_log)
    assert report.matched >= 64
    # client-bench.md: <=3.3 ms p99 at 64 streams (measured). In 4 of 8 full CI runs this test's tail
    # failed with one 50-190 ms stall of the load generator (median errors 0.04-0.07 ms), only after the
    # rest of the suite, while the stall probe saw the machine stall 9 ms. The tail now allows the stall
    # the run's own monitor reported, and requires the run to have said so (tests/timing_bounds.py).
    _check_timing(report, outcome.run_dir)


def test_every_request_the_server_saw_is_recorded_when_the_run_ends_mid_stream(tmp_path: Path) -> None:
    # 1.2 s answers, 2.5 s of load: streams are in flight when the load stops
    scenario = write_scenario(tmp_path, load={"users": 4, "spawn_rate": 4, "duration_s": 2.5})
    outcome = _run(scenario, tmp_path)
    assert outcome.records == _truth_lines(outcome.run_dir) >= 8
    assert all(r.ok for r in read_records(outcome.run_dir))


@pytest.mark.slow
def test_distributed_run_with_two_processes_loses_no_request(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, load={"users": 4, "spawn_rate": 4, "duration_s": 2.5})
    outcome = _run(scenario, tmp_path, processes=2)
    records = read_records(outcome.run_dir)
    assert {r.worker for r in records} == {"w0", "w1"}
    assert outcome.records == _truth_lines(outcome.run_dir) >= 8
    assert all(r.ok for r in records)
    assert len({r.request_id for r in records}) == len(records)


def test_faults_become_error_records_and_the_run_goes_on(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        mock={
            "tpot_ms": 2,
            "prefill_base_ms": 5,
            "output_tokens": 10,
            "fault_http_500": 0.1,
            "fault_http_429": 0.1,
            "fault_reset_mid_stream": 0.1,
            "fault_bad_json_chunk": 0.1,
            "fault_no_done": 0.1,
        },
        load={"users": 4, "duration_s": 3},
    )
    outcome = _run(scenario, tmp_path)
    records = read_records(outcome.run_dir)
    kinds = {(r.error_kind, r.status) for r in records}
    assert {("http_error", 500), ("http_error", 429), ("connection_reset", 200), ("bad_json", 200)} <= kinds
    assert ("stream_incomplete", 200) in kinds
    assert (None, 200) in kinds and outcome.errors < outcome.records
    assert outcome.records == _truth_lines(outcome.run_dir)
    truth = read_truth_log(outcome.truth_log or "")
    assert {r.request_id for r in records} == set(truth)
