"""Load shapes through whole runs: multi-turn history, open-loop arrivals, stages, drain and stop."""

from __future__ import annotations

import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.instrument.truth import read_records
from bench.load.runner import run_load
from tests.load.helpers import write_scenario

FAST_MOCK = {"prefill_base_ms": 10, "tpot_ms": 2, "output_tokens": 10}


def _truth_lines(run_dir: Path) -> int:
    return len((run_dir / "mock" / "truth.jsonl").read_bytes().splitlines())


def test_multi_turn_sends_the_servers_answer_back_before_the_next_turn(tmp_path: Path) -> None:
    conversation = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "second question"},
    ]
    scenario = write_scenario(
        tmp_path,
        mock=FAST_MOCK,
        profile="openai",
        prompts=[conversation],
        multi_turn=True,
        load={"users": 1, "duration_s": 1.5},
    )
    outcome = run_load(scenario, results_dir=tmp_path / "r", progress=False)
    records = read_records(outcome.run_dir)
    first = next(r for r in records if r.turn == 0)
    second = next(r for r in records if r.turn == 1 and r.started_at_s > first.started_at_s)
    assert first.token_source == "usage" and first.prompt_tokens and first.output_tokens
    # the second request carries turn 0, the server's 10-token answer and the new question
    assert second.prompt_tokens == first.prompt_tokens + first.output_tokens + 2


def test_open_loop_arrivals_follow_the_schedule_and_record_their_lag(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, mock=FAST_MOCK, load={"duration_s": 3, "arrival": {"rate_rps": 20}})
    outcome = run_load(scenario, results_dir=tmp_path / "r", progress=False)
    records = read_records(outcome.run_dir)
    assert 30 <= len(records) <= 90  # Poisson, 20/s for 3 s: 60 expected
    assert outcome.records == _truth_lines(outcome.run_dir)
    assert all(r.scheduled_at_s is not None and r.client_lag_ms is not None for r in records)
    assert statistics.median(r.client_lag_ms or 0.0 for r in records) < 5.0
    assert all(r.ok for r in records)


def test_constant_arrivals_are_evenly_spaced(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path, mock=FAST_MOCK, load={"duration_s": 2, "arrival": {"rate_rps": 10, "process": "constant"}}
    )
    outcome = run_load(scenario, results_dir=tmp_path / "r", progress=False)
    scheduled = sorted(r.scheduled_at_s or 0.0 for r in read_records(outcome.run_dir))
    gaps = [b - a for a, b in itertools.pairwise(scheduled)]
    assert len(scheduled) >= 15 and all(abs(g - 0.1) < 1e-6 for g in gaps)


def test_stages_label_records_with_their_step(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        mock=FAST_MOCK,
        load={
            "stages": [
                {"duration_s": 1.5, "users": 1, "spawn_rate": 5},
                {"duration_s": 1.5, "users": 3, "spawn_rate": 5},
            ]
        },
    )
    outcome = run_load(scenario, results_dir=tmp_path / "r", progress=False)
    records = read_records(outcome.run_dir)
    assert {r.step for r in records} == {0, 1}
    assert max(r.user for r in records if r.step == 0) == 0  # one user in the first stage
    assert len({r.user for r in records if r.step == 1}) >= 2


def test_answers_cut_by_the_drain_timeout_are_recorded_as_cancelled(tmp_path: Path) -> None:
    # 5 s answers, 1.5 s of load, 1 s of drain: the streams in flight are cut, and still recorded
    scenario = write_scenario(tmp_path, mock={"tpot_ms": 100}, load={"users": 2, "duration_s": 1.5})
    outcome = run_load(scenario, results_dir=tmp_path / "r", progress=False, drain_timeout_s=1.0)
    records = read_records(outcome.run_dir)
    assert records and {r.error_kind for r in records} == {"cancelled"}
    assert all(r.chunks > 0 and r.e2e_ms is not None for r in records)
    assert outcome.records == _truth_lines(outcome.run_dir)


@pytest.mark.slow
def test_ctrl_c_stops_the_run_and_keeps_what_was_recorded(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, mock=FAST_MOCK, load={"users": 2, "duration_s": 60})
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", str(scenario), "--results-dir", str(tmp_path / "r")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    records_dir = None
    while time.monotonic() < deadline:
        found = list((tmp_path / "r").glob("*/records/local.jsonl"))
        if found and found[0].stat().st_size > 0:
            records_dir = found[0].parent
            break
        time.sleep(0.3)
    assert records_dir is not None
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    run_dir = records_dir.parent
    assert (run_dir / "records.parquet").is_file()
    assert len(read_records(run_dir)) > 0


def test_max_requests_ends_the_run_early_and_step_labels_every_record(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path, mock=FAST_MOCK, load={"users": 2, "duration_s": 60, "max_requests": 7}
    )
    started = time.monotonic()
    outcome = run_load(scenario, results_dir=tmp_path / "r", progress=False, step=3)
    assert time.monotonic() - started < 30
    records = read_records(outcome.run_dir)
    assert len(records) == 7 == _truth_lines(outcome.run_dir)
    assert {r.step for r in records} == {3}


@pytest.mark.slow
def test_open_loop_across_two_processes_keeps_one_even_grid(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path, mock=FAST_MOCK, load={"duration_s": 3, "arrival": {"rate_rps": 20, "process": "constant"}}
    )
    outcome = run_load(scenario, results_dir=tmp_path / "r", progress=False, processes=2)
    records = read_records(outcome.run_dir)
    assert {r.worker for r in records} == {"w0", "w1"}
    assert outcome.records == _truth_lines(outcome.run_dir) >= 40
    scheduled = sorted(r.scheduled_at_s or 0.0 for r in records)
    gaps = [b - a for a, b in itertools.pairwise(scheduled)]
    # 20/s split over two processes on one grid: 50 ms apart (100 ms where a slot passed before a process started)
    assert all(abs(g - 0.05) < 1e-3 or abs(g - 0.1) < 1e-3 for g in gaps)
    assert sum(abs(g - 0.05) < 1e-3 for g in gaps) >= 0.9 * len(gaps)


def test_open_loop_arrivals_dropped_at_the_in_flight_limit_fail_the_gate_and_are_named(
    tmp_path: Path,
) -> None:
    # 40 arrivals/s of 1.2 s answers need about 48 in flight; the limit is 2, so most are never sent. The
    # latencies of the few sent are fine, and a PASS would hide that the server got a twentieth of the load.
    from bench.analysis.summary import analyze
    from bench.gates.slo import evaluate_slos
    from bench.scenario.slo import Slo

    load = {"duration_s": 2, "arrival": {"rate_rps": 40, "process": "constant", "max_inflight": 2}}
    outcome = run_load(write_scenario(tmp_path, load=load), results_dir=tmp_path / "r", progress=False)
    records = read_records(outcome.run_dir)
    assert 2 <= len(records) <= 8 and all(r.ok for r in records)
    schedule = json.loads((outcome.run_dir / "run.json").read_text())["schedule"]
    assert 60 <= schedule["arrivals_dropped"] + len(records) <= 82  # 40/s for 2 s, sent or dropped
    verdict = evaluate_slos(outcome.run_dir, Slo.from_dict({"e2e_ms": {"p95": 5000}}))
    assert not verdict.passed
    [check] = verdict.breaches
    assert check.name == "dropped_share" and check.samples == schedule["arrivals_dropped"]
    assert check.measured == pytest.approx(check.samples / (check.samples + verdict.requests))
    warnings = analyze(outcome.run_dir).summary.warnings
    assert any(
        w.startswith(f"{check.samples} open-loop arrivals were dropped") and "(2 per process)" in w
        for w in warnings
    )
