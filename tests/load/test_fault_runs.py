"""Whole runs against a mock that injects faults: every faulty request is in the records, under its
error kind, or marked as resent; nothing is lost and nothing is silently resent."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench.load.runner import run_load
from bench.records import read_jsonl
from bench.report import build_report
from tests.load.helpers import write_scenario

FAST = {"prefill_base_ms": 5, "tpot_ms": 2, "output_tokens": 10}


def _run(tmp_path: Path, mock: dict[str, object], **overrides: object):  # type: ignore[no-untyped-def]
    scenario = write_scenario(tmp_path, mock={**FAST, **mock}, load={"users": 2, "duration_s": 3})
    return run_load(scenario, overrides, results_dir=tmp_path / "results", progress=False)


def _truth(run_dir: Path) -> list[dict]:
    return [orjson.loads(line) for line in (run_dir / "mock" / "truth.jsonl").read_bytes().splitlines()]


def test_close_after_request_is_either_failed_or_marked_resent(tmp_path: Path) -> None:
    outcome = _run(tmp_path, {"fault_close_after_request": 0.3})
    records, _ = read_jsonl((outcome.run_dir / "records").glob("*.jsonl"))
    by_id = {r["request_id"]: r for r in records}
    dropped = {
        line["request_id"] for line in _truth(outcome.run_dir) if line["fault"] == "close_after_request"
    }
    assert len(dropped) >= 10, len(dropped)
    for request_id in dropped:
        record = by_id[request_id]  # the server saw it: the client has its record
        assert record["error_kind"] == "connection_reset" or record["attempts"] > 1, record
    resent = [r for r in records if r["attempts"] > 1]
    failed = [r for r in records if r["error_kind"] == "connection_reset"]
    assert resent and failed  # kept-alive connections were resent, new ones failed
    assert all(r["resend_kind"] == "connection_reset" and r["resend_at_ms"] is not None for r in resent)
    # No resend hides a fault: every resent request was one the server dropped.
    assert {r["request_id"] for r in resent} <= dropped
    assert all(r["error_kind"] is None or r["error_kind"] == "connection_reset" for r in records)
    # The summary (and the report's error table) count the resends.
    whole = build_report(outcome.run_dir).summary.to_json()["whole_run"]
    assert whole["resent"] == len(resent) and whole["resent_failed"] == sum(
        1 for r in resent if r["error_kind"]
    )


def test_with_resends_off_every_dropped_request_is_a_failed_record(tmp_path: Path) -> None:
    outcome = _run(tmp_path, {"fault_close_after_request": 0.3}, resend=False)
    records, _ = read_jsonl((outcome.run_dir / "records").glob("*.jsonl"))
    assert records and all(r["attempts"] == 1 for r in records)
    dropped = {
        line["request_id"] for line in _truth(outcome.run_dir) if line["fault"] == "close_after_request"
    }
    failed = {r["request_id"] for r in records if r["error_kind"] == "connection_reset"}
    assert dropped == failed and dropped


def test_a_run_records_connect_time_only_for_new_connections(tmp_path: Path) -> None:
    outcome = _run(tmp_path, {})
    records, _ = read_jsonl((outcome.run_dir / "records").glob("*.jsonl"))
    with_connect = [r for r in records if r["connect_ms"] is not None]
    assert len(with_connect) == 2  # one connection per closed-loop user, kept alive for the run
    assert all(0 <= r["connect_ms"] < 100 for r in with_connect)
    assert len(records) > 20


def test_a_429_is_counted_as_throttled_with_its_retry_after(tmp_path: Path) -> None:
    outcome = _run(tmp_path, {"fault_http_429": 0.3, "retry_after_s": 4})
    records, _ = read_jsonl((outcome.run_dir / "records").glob("*.jsonl"))
    throttled = [r for r in records if r["status"] == 429]
    assert throttled and all(r["error_kind"] == "http_error" and r["retry_after_s"] == 4.0 for r in throttled)
    whole = build_report(outcome.run_dir).summary.to_json()["whole_run"]
    assert whole["throttled"] == len(throttled) and whole["failed"] >= len(throttled)
