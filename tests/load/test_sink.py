"""Record sink, monitor and merge: what a killed run leaves behind, and the files the analysis reads."""

from __future__ import annotations

from array import array
from pathlib import Path

import gevent
import orjson
import pyarrow.parquet as pq

from bench.load.merge import merge_records
from bench.load.monitor import Monitor
from bench.load.rundir import create_run_dir
from bench.load.sink import RecordSink
from bench.records import Record, record_from_json


def make_record(i: int, *, error: str | None = None) -> Record:
    return Record(
        run_id="r", worker="local", user=0, request_id=f"id{i}", scenario="s", prompt_set="p", prompt_id="1",
        turn=0, step=0, stream=True, temperature=0.5, top_p=None, presence_penalty=None, frequency_penalty=None,
        max_tokens=None, scheduled_at_s=None, started_at_s=1.0 + i, start_mono_s=2.0 + i, client_lag_ms=None,
        ttft_ms=200.0, itl_ms=array("d", [20.0, 21.5]), e2e_ms=250.0, prompt_tokens=None, output_tokens=3,
        token_source="chunks", chunks=3, finish_reason="stop", status=200 if error is None else 500,
        error_kind=error, error_message=None if error is None else "HTTP 500", lg_cpu_pct=12.0,
    )  # fmt: skip


def test_records_reach_the_file_within_a_second_without_close(tmp_path: Path) -> None:
    sink = RecordSink(tmp_path / "records" / "local.jsonl")
    sink.write(make_record(1))
    gevent.sleep(0.8)  # the background flush, as a process killed now would leave it
    lines = (tmp_path / "records" / "local.jsonl").read_bytes().splitlines()
    assert [record_from_json(line).request_id for line in lines] == ["id1"]
    sink.write(make_record(2))
    sink.close()
    assert len((tmp_path / "records" / "local.jsonl").read_bytes().splitlines()) == 2


def test_monitor_writes_one_line_a_second_in_the_bottleneck_format(tmp_path: Path) -> None:
    monitor = Monitor(tmp_path / "monitor" / "local.jsonl", "local", interval_s=0.3)
    monitor.start()
    gevent.sleep(1.0)
    monitor.stop()
    rows = [orjson.loads(line) for line in (tmp_path / "monitor" / "local.jsonl").read_bytes().splitlines()]
    assert len(rows) >= 2
    assert set(rows[0]) == {"t_s", "worker", "cpu_pct", "loop_lag_ms"}
    assert monitor.latest_cpu_pct is not None and monitor.latest_lag_ms is not None


def test_merge_keeps_every_worker_and_skips_a_line_cut_by_a_kill(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "w0.jsonl").write_bytes(
        make_record(1).to_json() + b"\n" + b'{"run_id": "r", "work'
    )
    (tmp_path / "records" / "w1.jsonl").write_bytes(make_record(2, error="http_error").to_json() + b"\n")
    result = merge_records(tmp_path)
    assert (result.records, result.errors, result.skipped_lines) == (2, 1, 1)
    table = pq.read_table(result.path)
    assert table.column("itl_ms").to_pylist() == [[20.0, 21.5], [20.0, 21.5]]
    assert table.column("request_id").to_pylist() == ["id1", "id2"]


def test_run_ids_are_unique(tmp_path: Path) -> None:
    first = create_run_dir(tmp_path, "my scenario", "fixed")
    second = create_run_dir(tmp_path, "my scenario", "fixed")
    assert (first.name, second.name) == ("fixed", "fixed-2")
    assert create_run_dir(tmp_path, "my scenario").name.startswith("my-scenario-")
