"""Record stream, monitor and merge: what reaches the run's one writer, what a killed run leaves behind,
and the files the analysis reads."""

from __future__ import annotations

import time
from array import array
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import gevent
import msgpack
import orjson
import pyarrow.parquet as pq

from bench.load.batch import BatchBuilder, RecordBatch
from bench.load.hub import RecordHub
from bench.load.merge import merge_records
from bench.load.monitor import Monitor
from bench.load.rundir import create_run_dir
from bench.load.stream import RecordCollector, RecordSender
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


class Link:
    """The messaging between a sender and the collector, in-process, with a switch to lose messages."""

    def __init__(self, run_dir: Path, worker: str = "w0") -> None:
        self.hub = RecordHub()
        self.seen: list[RecordBatch] = []
        self.hub.subscribe(self.seen.append)
        self.collector = RecordCollector(run_dir, self.hub, lambda client, data: self.sender.on_ack(data))
        self.up = True
        self.sender = RecordSender(self._carry, worker, interval_s=0.2, resend_s=0.3)

    def close(self) -> None:
        self.sender.close()
        self.collector.close()

    def _carry(self, msg: dict[str, object]) -> None:
        if self.up:  # through msgpack, as Locust's messaging carries it
            self.collector.receive("client-1", msgpack.loads(msgpack.dumps(msg), raw=False))


def _lines(path: Path) -> list[Record]:
    return [record_from_json(line) for line in path.read_bytes().splitlines()]


def test_records_reach_the_writer_within_a_second_without_close(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.sender.write(make_record(1))
    gevent.sleep(0.5)  # the background flush, as a worker killed now would leave it
    assert [r.request_id for r in _lines(tmp_path / "records" / "w0.jsonl")] == ["id1"]
    link.sender.write(make_record(2))
    link.close()
    assert [r.request_id for r in _lines(tmp_path / "records" / "w0.jsonl")] == ["id1", "id2"]
    assert link.collector.streams["w0"].final and link.sender.unacked == 0
    assert [len(b) for b in link.seen] == [1, 1]  # the hub got every batch once


def test_a_batch_the_writer_did_not_get_is_sent_again_and_written_once(tmp_path: Path) -> None:
    link = Link(tmp_path)
    link.up = False  # the connection to the master is broken
    link.sender.write(make_record(1))
    link.sender.flush()
    assert link.sender.unacked == 1 and not (tmp_path / "records").exists()
    link.up = True
    link.sender.write(make_record(2))
    link.sender.flush()
    stream = link.collector.streams["w0"]
    assert (stream.upto, stream.above) == (0, {2})  # batch 1 is missing, batch 2 is written
    gevent.sleep(0.6)  # the resend
    assert (stream.upto, link.sender.unacked) == (2, 0)
    link.sender.resend(older_than_s=0)  # nothing left to resend; a duplicate would not be written anyway
    link.collector.receive("client-1", {"worker": "w0", "seq": 1, "batch": {}, "monitor": []})
    link.close()
    assert sorted(r.request_id for r in _lines(tmp_path / "records" / "w0.jsonl")) == ["id1", "id2"]


def test_a_batch_keeps_every_field_and_writes_the_lines_record_to_json_writes(tmp_path: Path) -> None:
    plain = make_record(1)
    rich = replace(make_record(2), itl_ms=array("d", [1 / 3, 2.0, 2e-4]), chunk_tokens=array("l", [1, 4, 2]))
    empty = replace(make_record(3, error="http_error"), itl_ms=array("d"), chunks=0)
    builder = BatchBuilder()
    for record in (plain, rich, empty):
        builder.add(record)
    batch = RecordBatch.from_wire(msgpack.loads(msgpack.dumps(builder.take().to_wire()), raw=False))
    assert len(builder) == 0 and len(batch) == 3
    lines = batch.jsonl().splitlines()
    assert [orjson.loads(line) for line in lines] == [orjson.loads(r.to_json()) for r in (plain, rich, empty)]
    assert list(batch.records()) == [record_from_json(r.to_json()) for r in (plain, rich, empty)]
    assert batch.column("request_id") == ["id1", "id2", "id3"]
    assert list(batch.itl_ms(1)) == [0.3333, 2.0, 0.0002]


def test_a_batch_from_another_chatbench_is_refused_and_not_acknowledged(tmp_path: Path) -> None:
    acks: list[object] = []
    collector = RecordCollector(tmp_path, None, lambda client, data: acks.append(data))
    builder = BatchBuilder()
    builder.add(make_record(1))
    wire = builder.take().to_wire()
    wire["cols"] = [*wire["cols"], "a_new_field"]  # type: ignore[list-item]
    collector.receive("c", {"worker": "w0", "seq": 1, "batch": wire, "monitor": []})
    assert (collector.rejected, acks, collector.records) == (1, [], 0)


def test_monitor_samples_travel_with_the_records_in_the_bottleneck_format(tmp_path: Path) -> None:
    link = Link(tmp_path, "local")
    monitor = Monitor(link.sender.monitor_sample, "local", interval_s=0.3)
    monitor.start()
    gevent.sleep(1.0)
    monitor.stop()
    link.close()
    rows = [orjson.loads(line) for line in (tmp_path / "monitor" / "local.jsonl").read_bytes().splitlines()]
    assert len(rows) >= 2
    assert set(rows[0]) == {"t_s", "worker", "cpu_pct", "loop_lag_ms", "late_ms", "majflt"}
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


class _SlowDisk:
    """A records file whose write() blocks 300 ms, as the kernel's dirty-page throttling or an ext4
    journal commit can block one."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f

    def write(self, data: bytes) -> int:
        time.sleep(0.3)
        return self.f.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.f, name)


def test_a_write_that_blocks_does_not_stall_the_loop_that_stamps_chunks(tmp_path: Path, monkeypatch) -> None:
    # In a local run the writer lives in the load generator's process: a blocking write() there would
    # hold every stream's timestamps for as long.
    original = RecordCollector._file
    monkeypatch.setattr(
        RecordCollector, "_file", lambda self, stream, kind: _SlowDisk(original(self, stream, kind))
    )
    link = Link(tmp_path)
    late: list[float] = []

    def ticker() -> None:
        for _ in range(60):
            asked = time.perf_counter()
            gevent.sleep(0.01)
            late.append(time.perf_counter() - asked - 0.01)

    ticks = gevent.spawn(ticker)
    gevent.sleep(0.05)
    link.sender.write(make_record(1))
    link.sender.flush()
    ticks.join()
    link.close()
    assert [r.request_id for r in _lines(tmp_path / "records" / "w0.jsonl")] == ["id1"]
    assert max(late) < 0.1, f"the loop stalled {max(late) * 1000:.0f} ms while a write blocked 300 ms"


def test_the_monitor_sees_a_single_stall_of_the_process(tmp_path: Path) -> None:
    link = Link(tmp_path, "local")
    monitor = Monitor(link.sender.monitor_sample, "local", interval_s=0.5)
    monitor.start()
    gevent.sleep(0.6)
    time.sleep(0.15)  # the whole process stops: no greenlet runs
    gevent.sleep(1.0)
    monitor.stop()
    link.close()
    rows = [orjson.loads(line) for line in (tmp_path / "monitor" / "local.jsonl").read_bytes().splitlines()]
    lags = [r["loop_lag_ms"] for r in rows]
    assert 140 <= max(lags) < 250, lags
    assert max(r["late_ms"] for r in rows) >= max(lags)
    assert all(isinstance(r["majflt"], int) and r["majflt"] >= 0 for r in rows)
