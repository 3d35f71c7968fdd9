"""The per-request record: what the load side writes is exactly what the analysis side reads."""

from __future__ import annotations

from array import array
from dataclasses import replace

import orjson

from bench.records import ERROR_KINDS, RECORD_COLUMNS, Record, record_from_json


def make_record(**changes) -> Record:
    base = Record(
        run_id="r",
        worker="local",
        user=0,
        request_id="req-1",
        scenario="s",
        prompt_set="zh",
        prompt_id="zh-3",
        turn=0,
        step=0,
        stream=True,
        temperature=0.7,
        top_p=1.0,
        presence_penalty=0.0,
        frequency_penalty=0.0,
        max_tokens=None,
        scheduled_at_s=None,
        started_at_s=1_700_000_000.25,
        start_mono_s=123.456,
        client_lag_ms=None,
        ttft_ms=200.5,
        itl_ms=array("d", [20.0, 19.5, 20.25]),
        e2e_ms=262.0,
        prompt_tokens=12,
        output_tokens=4,
        token_source="usage",
        chunks=4,
        finish_reason="stop",
        status=200,
        error_kind=None,
        error_message=None,
    )
    return replace(base, **changes)


def test_round_trip_keeps_every_field():
    rec = make_record()
    back = record_from_json(rec.to_json())
    assert back == rec
    assert list(orjson.loads(rec.to_json())) == list(RECORD_COLUMNS)


def test_failed_request_is_a_record_not_an_exception():
    rec = make_record(
        ttft_ms=None, itl_ms=array("d"), status=503, error_kind="http_error", error_message="busy"
    )
    assert not rec.ok
    assert record_from_json(rec.to_json()).error_kind == "http_error"
    assert "http_error" in ERROR_KINDS and "cancelled" in ERROR_KINDS


def test_jsonl_reader_skips_a_line_cut_by_a_killed_writer(tmp_path):
    from bench.records import read_jsonl

    path = tmp_path / "local.jsonl"
    line = make_record().to_json()
    path.write_bytes(line + b"\n\n" + line + b"\n" + line[: len(line) // 2])
    rows, skipped = read_jsonl([path])
    assert len(rows) == 2 and skipped == 1
    assert record_from_json(orjson.dumps(rows[0])) == make_record()
