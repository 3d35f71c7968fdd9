"""bench.instrument.truth: pairing records with the mock's truth log and measuring the client's timing error."""

from __future__ import annotations

from array import array
from pathlib import Path

import orjson
import pytest

from bench.errors import ResultsError
from bench.instrument.truth import ServerTiming, compare, compare_run, read_truth_log
from bench.records import Record


def make_record(
    request_id: str,
    *,
    start: float,
    ttft_ms: float | None,
    itl_ms: list[float],
    e2e_ms: float,
    stream: bool = True,
    error_kind: str | None = None,
) -> Record:
    return Record(
        run_id="r",
        worker="local",
        user=0,
        request_id=request_id,
        scenario="s",
        prompt_set="p",
        prompt_id="0",
        turn=0,
        step=0,
        stream=stream,
        temperature=None,
        top_p=None,
        presence_penalty=None,
        frequency_penalty=None,
        max_tokens=None,
        scheduled_at_s=None,
        started_at_s=1.7e9,
        start_mono_s=start,
        client_lag_ms=None,
        ttft_ms=ttft_ms,
        itl_ms=array("d", itl_ms),
        e2e_ms=e2e_ms,
        prompt_tokens=3,
        output_tokens=len(itl_ms) + 1 if stream else 5,
        token_source="usage",
        chunks=len(itl_ms) + 1 if stream else 1,
        finish_reason="stop",
        status=200 if error_kind is None else 0,
        error_kind=error_kind,  # type: ignore[arg-type]
        error_message=None,
    )


def server(request_id: str, chunks: list[float], done: float) -> ServerTiming:
    return ServerTiming(request_id, None, None, tuple(chunks), done)


def test_errors_are_client_minus_server_per_metric() -> None:
    # Server wrote chunks at 100.2, 100.22, 100.25 and [DONE] at 100.26; the request was sent at 100.0.
    truth = {"a": server("a", [100.2, 100.22, 100.25], 100.26)}
    # The client saw the first chunk 0.5 ms late, the gaps as 20.3 and 29.6 ms, [DONE] 0.4 ms late.
    rec = make_record("a", start=100.0, ttft_ms=200.5, itl_ms=[20.3, 29.6], e2e_ms=260.4)
    report = compare([rec], truth)
    assert report.matched == 1
    assert report.ttft_errors_ms.tolist() == pytest.approx([0.5], abs=1e-6)
    assert report.itl_errors_ms.tolist() == pytest.approx([0.3, -0.4], abs=1e-6)
    assert report.e2e_errors_ms.tolist() == pytest.approx([0.4], abs=1e-6)
    assert report.last_chunk.max_ms == pytest.approx(0.4, abs=1e-6)  # 200.5 + 20.3 + 29.6 vs 250 ms
    assert report.itl.max_ms == pytest.approx(0.4, abs=1e-6)  # absolute values
    assert report.itl.mean_ms == pytest.approx(-0.05, abs=1e-6)  # signed bias
    assert report.worst_p99_ms == pytest.approx(0.5, abs=1e-3)
    assert report.within(1.0) and not report.within(0.1)


def test_unmatched_both_ways_and_failed_records_are_reported_not_compared() -> None:
    truth = {
        "ok": server("ok", [10.1, 10.2], 10.3),
        "orphan": server("orphan", [11.1], 11.2),  # the server saw it; the client kept no record
        "failed": server("failed", [12.1], 12.2),
    }
    records = [
        make_record("ok", start=10.0, ttft_ms=100.2, itl_ms=[100.0], e2e_ms=300.1),
        make_record("lost", start=10.0, ttft_ms=50.0, itl_ms=[], e2e_ms=60.0),
        make_record("failed", start=12.0, ttft_ms=None, itl_ms=[], e2e_ms=5.0, error_kind="connection_reset"),
    ]
    report = compare(records, truth)
    assert report.matched == 1
    assert report.failed_records == 1
    assert report.records_without_truth == ("lost",)
    assert report.truth_without_record == ("orphan",)
    assert report.e2e.count == 1
    assert "1 records not in the truth log" in report.summary_line()


def test_chunk_count_mismatch_skips_itl_but_keeps_ttft_and_e2e() -> None:
    truth = {"a": server("a", [1.1, 1.2, 1.3], 1.4)}
    rec = make_record("a", start=1.0, ttft_ms=100.0, itl_ms=[200.0], e2e_ms=400.0)  # 2 chunks, not 3
    report = compare([rec], truth)
    assert report.chunk_mismatch == ("a",)
    assert report.itl.count == 0
    assert report.ttft.count == 1 and report.e2e.count == 1


def test_non_streamed_requests_count_for_e2e_only() -> None:
    truth = {"n": ServerTiming("n", 5.0, 5.001, (), 5.05)}
    rec = make_record("n", start=5.0, ttft_ms=None, itl_ms=[], e2e_ms=51.0, stream=False)
    report = compare([rec], truth)
    assert report.ttft.count == 0 and report.itl.count == 0
    assert report.e2e_errors_ms.tolist() == pytest.approx([1.0], abs=1e-6)


def test_nothing_compared_is_never_within_a_limit() -> None:
    report = compare([], {})
    assert report.worst_p99_ms is None
    assert not report.within(1.0)
    assert report.to_dict()["ttft"]["p99_ms"] is None


def test_compare_run_reads_records_and_truth_log_files(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    rec = make_record("a", start=3.0, ttft_ms=100.7, itl_ms=[10.0], e2e_ms=120.9)
    (tmp_path / "records" / "local.jsonl").write_bytes(rec.to_json() + b"\n" + b'{"cut')
    log = tmp_path / "truth.jsonl"
    line = {
        "request_id": "a",
        "recv_mono_s": 3.0001,
        "headers_mono_s": 3.0002,
        "chunk_mono_s": [3.1, 3.11],
        "done_mono_s": 3.12,
    }
    log.write_bytes(orjson.dumps(line) + b"\n" + orjson.dumps({"request_id": None}) + b'\n{"req')
    assert set(read_truth_log(log)) == {"a"}
    report = compare_run(tmp_path, log)
    assert report.matched == 1
    assert report.ttft.p99_ms == pytest.approx(0.7, abs=1e-6)
    assert report.e2e.p99_ms == pytest.approx(0.9, abs=1e-6)


def test_missing_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="truth log not found"):
        read_truth_log(tmp_path / "nope.jsonl")
    with pytest.raises(ResultsError, match="no records"):
        compare_run(tmp_path, tmp_path / "nope.jsonl")
