"""Trace replay against the mock: each shipped sample format sent on schedule (p99 within 5 ms),
every row once and in trace order, equal hash_ids reaching the server as equal prefixes, and the
rows split over two processes without loss, duplication or reordering."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from bench.instrument.truth import read_records
from bench.load.runner import run_load
from bench.report import build_report
from bench.stats import percentile
from tests.timing_bounds import allowed_stall_ms, own_stall_ms, stall_said, stall_story, timing_test

TRACES = Path(__file__).resolve().parents[2] / "scenarios" / "traces"
SAMPLES = {
    "mooncake": "mooncake-sample.jsonl",
    "azure": "azure-sample.csv",
    "burstgpt": "burstgpt-sample.csv",
    "chatbench": "chatbench-sample.jsonl",
}
_ROWS = 40  # the first rows of each sample, at the sample's own rate


def _scenario(tmp_path: Path, fmt: str, mock: dict[str, object] | None = None, **trace: object) -> Path:
    data = {
        "name": f"replay-{fmt}",
        "seed": 2,
        "target": {"profile": "openai", "timeouts": {"connect_s": 5, "first_byte_s": 10, "total_s": 20}},
        "mock": {
            "profile": "openai",
            "batch_slots": 256,
            "prefill_base_ms": 5,
            "prefill_per_token_ms": 0.01,
            "tpot_ms": 2,
            "batch_slowdown": 0,
            "output_dist": "fixed",
            "output_tokens": 8,
            **(mock or {}),
        },
        "prompt_sets": [
            {"name": fmt, "trace": {"path": str(TRACES / SAMPLES[fmt]), "max_requests": _ROWS, **trace}}
        ],
        "sampling": {"temperature": 0.0, "stream": True},
    }
    path = tmp_path / f"{fmt}.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


def _lag_limit_ms(run_dir: Path) -> float:
    """5 ms at p99 (the done-when of issue 14); a shared machine whose cores are busy gets 25 ms, and
    a stall of the machine or one the run reported gets that stall on top of the 5 ms
    (tests/timing_bounds.py); a stall allowed must be one the run's summary names."""
    load = os.getloadavg()[0]
    if own_stall_ms(run_dir):
        assert stall_said(run_dir), stall_story(run_dir)
    return max(25.0 if load >= 0.75 * (os.cpu_count() or 1) else 5.0, 5.0 + allowed_stall_ms(run_dir))


def _trace_lines(fmt: str) -> list[int]:
    lines = [n for n, line in enumerate((TRACES / SAMPLES[fmt]).read_text().splitlines(), 1) if line.strip()]
    return (lines[1:] if SAMPLES[fmt].endswith(".csv") else lines)[:_ROWS]


@pytest.mark.parametrize("fmt", SAMPLES)
@timing_test
def test_each_format_is_replayed_on_schedule_whole_and_in_order(tmp_path: Path, fmt: str) -> None:
    outcome = run_load(_scenario(tmp_path, fmt), results_dir=tmp_path / "results", progress=False)
    records = sorted(read_records(outcome.run_dir), key=lambda r: r.scheduled_at_s or 0.0)
    assert [r.prompt_id for r in records] == [f"line-{n}" for n in _trace_lines(fmt)]
    assert all(r.ok for r in records), [r.error_message for r in records if not r.ok]
    lags = [r.client_lag_ms for r in records]
    assert all(lag is not None and lag >= 0 for lag in lags)
    limit = _lag_limit_ms(outcome.run_dir)
    assert percentile(lags, 99) <= limit, f"lag p99 {percentile(lags, 99):.2f} ms > {limit} ms"
    # Sent at the trace's own gaps: scheduled times keep the trace's spacing.
    at = [r.scheduled_at_s - records[0].scheduled_at_s for r in records]  # type: ignore[operator]
    convs_at = [c.at_s for c in outcome.scenario.prompt_sets[0].conversations]
    assert max(abs(a - b) for a, b in zip(at, convs_at, strict=True)) < 0.002


def test_equal_hash_ids_reach_the_server_as_equal_prefixes(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "mooncake", mock={"prefix_cache_blocks": 100_000})
    outcome = run_load(scenario, results_dir=tmp_path / "results", progress=False)
    rows = [json.loads(line) for line in (TRACES / SAMPLES["mooncake"]).read_text().splitlines()][:_ROWS]
    truth = [json.loads(line) for line in (outcome.run_dir / "mock" / "truth.jsonl").read_text().splitlines()]
    assert len(truth) == _ROWS
    # The mock's prefix cache saw a hit for every row whose first block an earlier row already sent.
    hits = {t["request_id"]: t.get("cached_tokens", 0) for t in truth}
    records = {r.prompt_id: r for r in read_records(outcome.run_dir)}
    for n, row in enumerate(rows, 1):
        earlier = {h for prev in rows[: n - 1] for h in prev["hash_ids"]}
        if row["hash_ids"][0] in earlier:
            # a whole 512-token block, less the mock's 16-token block that straddles its end
            assert hits[records[f"line-{n}"].request_id] >= 512 - 16, row


@pytest.mark.slow
@timing_test
def test_two_processes_split_the_trace_without_loss_duplication_or_reordering(tmp_path: Path) -> None:
    outcome = run_load(
        _scenario(tmp_path, "burstgpt"), results_dir=tmp_path / "results", progress=False, processes=2
    )
    records = read_records(outcome.run_dir)
    assert {r.worker for r in records} == {"w0", "w1"}
    ordered = sorted(records, key=lambda r: r.scheduled_at_s or 0.0)
    assert [r.prompt_id for r in ordered] == [f"line-{n}" for n in _trace_lines("burstgpt")]
    for worker in ("w0", "w1"):  # each process sends its share in trace order
        mine = [r for r in records if r.worker == worker]
        assert mine == sorted(mine, key=lambda r: r.scheduled_at_s or 0.0) or sorted(
            r.start_mono_s for r in mine
        ) == [r.start_mono_s for r in sorted(mine, key=lambda r: r.scheduled_at_s or 0.0)]
    limit = _lag_limit_ms(outcome.run_dir)
    assert percentile([r.client_lag_ms for r in records], 99) <= limit


def test_a_trace_too_fast_for_the_load_generator_is_reported_as_lag_never_slowed_or_cut(
    tmp_path: Path,
) -> None:
    rows = 6000  # 20,000 req/s for 0.3 s: several times what one process can send (~3,000-4,000 req/s
    # here), so sending them takes well past the trace's planned 1.8 s stage
    trace = tmp_path / "fast.jsonl"
    trace.write_text("".join(f'{{"t_s": {i * 0.00005:.5f}, "prompt_tokens": 5}}\n' for i in range(rows)))
    data = yaml.safe_load(_scenario(tmp_path, "chatbench").read_text())
    data["prompt_sets"] = [{"name": "fast", "trace": {"path": str(trace)}}]
    data["mock"]["tpot_ms"] = 0
    data["mock"]["prefill_base_ms"] = 0
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    outcome = run_load(path, results_dir=tmp_path / "results", progress=False)
    records = read_records(outcome.run_dir)
    assert len(records) == rows  # every row sent, past the planned stage: nothing dropped to keep up
    schedule = json.loads((outcome.run_dir / "run.json").read_text())["schedule"]
    assert schedule["stop_reason"] == "trace_overran" and "rows_unsent" not in schedule, schedule
    summary = build_report(outcome.run_dir).summary.to_json()
    lag = summary["workload"]["schedule_lag_ms"]
    assert lag["count"] == rows and lag["behind"] is True, lag  # every row counts, late ones too
    assert any("fell behind the schedule" in w for w in summary["warnings"]), summary["warnings"]


def test_a_trace_cut_by_the_files_own_duration_says_how_many_rows_were_not_sent(tmp_path: Path) -> None:
    rows = 40  # one row every 0.1 s for 4 s, in a run the file stops after 2 s
    trace = tmp_path / "slow.jsonl"
    trace.write_text("".join(f'{{"t_s": {i * 0.1:.1f}, "prompt_tokens": 5}}\n' for i in range(rows)))
    data = yaml.safe_load(_scenario(tmp_path, "chatbench").read_text())
    data["prompt_sets"] = [{"name": "slow", "trace": {"path": str(trace)}}]
    data["load"] = {"duration_s": 2}
    path = tmp_path / "cut.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    outcome = run_load(path, results_dir=tmp_path / "results", progress=False)
    sent = len(read_records(outcome.run_dir))
    schedule = json.loads((outcome.run_dir / "run.json").read_text())["schedule"]
    assert 0 < sent < rows and schedule["rows_unsent"] == rows - sent, (sent, schedule)
    warnings = build_report(outcome.run_dir).summary.to_json()["warnings"]
    assert any(w.startswith(f"{rows - sent} trace rows were not sent") for w in warnings), warnings
