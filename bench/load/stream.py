"""The record stream: every load generator's records reach the run's one writer, in order, or are said lost.

Two ends, joined by Locust's own messaging (``runner.send_message`` / ``register_message``; in a local
run ``LocalRunner.send_message`` calls the handler in-process, so the same code runs either way):

- ``RecordSender``, in every load-generator process (a worker, or the local runner): records and monitor
  samples collect in a ``BatchBuilder``; at least every ``interval_s`` (0.5 s) the batch leaves as one
  ``chatbench_records`` message ``{"worker", "seq", "batch", "monitor", "mark"}`` with the next sequence
  number, and is kept until the writer acknowledges it. A batch not acknowledged within ``resend_s`` is
  sent again (a worker whose connection to the master broke resends what the master did not get).
- ``RecordCollector``, on the master or the local runner, the run's only writer: it appends each batch
  to ``records/<worker>.jsonl`` (and the monitor samples to ``monitor/<worker>.jsonl``), hands it to the
  record hub, and answers ``chatbench_ack {"seq", "upto"}``; a batch whose sequence number it has
  already written (a resend) is acknowledged again and not written twice.

A ``mark`` closes a stretch of the stream: when the master asks (``chatbench_end``, at the end of the
drain or when the run is stopped), each sender flushes what it holds and sends a batch carrying that
mark. The collector knows a worker's stream is complete up to a mark when it has written that batch and
every one before it; ``wait_for_marks`` waits for every worker, bounded in time, and names the ones that
never answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import gevent
from gevent.threadpool import ThreadPool

from bench.load.batch import BatchBuilder, RecordBatch
from bench.load.hub import RecordHub
from bench.records import Record

__all__ = ["ACK_MESSAGE", "RECORDS_MESSAGE", "RecordCollector", "RecordSender", "WorkerStream"]

log = logging.getLogger("chatbench")
RECORDS_MESSAGE = "chatbench_records"
ACK_MESSAGE = "chatbench_ack"
_SLICE = 64  # records written between two yields to the event loop (streams in flight keep their timing)


class RecordSender:
    """One load generator's end of the stream (see the module docstring)."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], None],
        worker: str,
        *,
        interval_s: float = 0.5,
        resend_s: float = 2.0,
    ) -> None:
        self._send = send
        self.worker = worker
        self.interval_s = interval_s
        self.resend_s = resend_s
        self._builder = BatchBuilder()
        self._monitor: list[bytes] = []
        self._seq = 0
        self._unacked: dict[int, tuple[dict[str, Any], float]] = {}
        self.written = 0  # records handed to write()
        self.sent = 0  # records in batches sent (first sending)
        self._closed = False
        self._greenlet = gevent.spawn(self._loop)

    def write(self, record: Record) -> None:
        self._builder.add(record)
        self.written += 1
        if self._closed:  # a straggler after close (a request greenlet killed late): still send it
            self.flush()

    def monitor_sample(self, line: bytes) -> None:
        """A ``monitor/<worker>.jsonl`` line of this process (it travels with the next batch)."""
        self._monitor.append(line)

    def flush(self, mark: int | None = None, *, final: bool = False) -> None:
        """Send what is collected as the next batch (with ``mark`` or ``final``, even when it is empty)."""
        if not len(self._builder) and not self._monitor and mark is None and not final:
            return
        batch = self._builder.take()
        self._seq += 1
        msg = {
            "worker": self.worker,
            "seq": self._seq,
            "batch": batch.to_wire(),
            "monitor": self._monitor,
            "mark": mark,
            "final": final,
        }
        self._monitor = []
        self._unacked[self._seq] = (msg, time.monotonic())
        self.sent += len(batch)
        self._transmit(msg)

    def on_ack(self, data: Mapping[str, Any]) -> None:
        """The writer has written batch ``seq`` and every batch up to ``upto``."""
        self._unacked.pop(int(data["seq"]), None)
        upto = int(data.get("upto", 0))
        for seq in [s for s in self._unacked if s <= upto]:
            del self._unacked[seq]

    @property
    def unacked(self) -> int:
        """Batches sent and not yet acknowledged."""
        return len(self._unacked)

    def resend(self, older_than_s: float | None = None) -> int:
        """Send again every batch unacknowledged for ``older_than_s`` (default ``resend_s``); how many."""
        limit = self.resend_s if older_than_s is None else older_than_s
        now = time.monotonic()
        due = [seq for seq, (_, at) in self._unacked.items() if now - at >= limit]
        for seq in due:
            msg, _ = self._unacked[seq]
            self._unacked[seq] = (msg, now)
            self._transmit(msg)
        return len(due)

    def close(self) -> None:
        """Send what is collected (idempotent); later writes are sent at once."""
        if self._closed:
            return
        self._greenlet.kill(block=False)
        self.flush(final=True)
        self._closed = True

    def _transmit(self, msg: dict[str, Any]) -> None:
        try:
            self._send(msg)
        except Exception as exc:  # a broken connection: the batch stays unacknowledged and is resent
            log.warning(
                "chatbench: could not send records batch %s: %s: %s", msg["seq"], type(exc).__name__, exc
            )

    def _loop(self) -> None:
        while True:
            gevent.sleep(self.interval_s)
            self.flush()
            if self._unacked:
                self.resend()


def _append(out: BinaryIO, data: bytes) -> None:
    out.write(data)
    out.flush()


def _close(files: list[BinaryIO]) -> None:
    for f in files:
        f.close()


@dataclass
class WorkerStream:
    """What the writer knows of one load generator's stream."""

    worker: str
    client_id: str
    records: int = 0
    batches: int = 0
    upto: int = 0  # every batch up to this sequence number is written
    above: set[int] = field(default_factory=set)  # written batches beyond ``upto`` (one was lost or late)
    marks: dict[int, int] = field(default_factory=dict)  # mark -> sequence number of the batch carrying it
    first_at_s: float | None = None  # wall clock of the first and the last batch received
    last_at_s: float | None = None
    lost_at_s: float | None = None  # when the run found the worker gone (None: it was not)
    final: bool = False  # the worker closed its stream and every batch of it is written
    final_seq: int | None = None
    files: dict[str, BinaryIO] = field(default_factory=dict)

    def seen(self, seq: int) -> bool:
        return seq <= self.upto or seq in self.above

    def add(self, seq: int) -> None:
        self.above.add(seq)
        while self.upto + 1 in self.above:
            self.upto += 1
            self.above.discard(self.upto)

    def complete(self, mark: int) -> bool:
        """Every batch up to the one carrying ``mark`` is written."""
        seq = self.marks.get(mark)
        return seq is not None and seq <= self.upto


class RecordCollector:
    """The run's one writer of ``records/`` and ``monitor/`` (see the module docstring)."""

    def __init__(
        self,
        run_dir: str | Path,
        hub: RecordHub | None = None,
        ack: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.hub = hub if hub is not None else RecordHub()
        self._ack = ack
        self.streams: dict[str, WorkerStream] = {}
        self.records = 0
        self.rejected = 0  # batches that could not be read (another chatbench version): logged
        # The files are written by one native thread, in the order asked: a write() can block for up to
        # 200 ms when the kernel throttles a writer of dirty pages or the ext4 journal commits, and in a
        # local run this loop is the one stamping chunks. Waiting greenlets yield meanwhile.
        self._io = ThreadPool(1)

    def receive(self, client_id: str, data: Mapping[str, Any]) -> None:
        """One ``chatbench_records`` message: write it (once), publish it, acknowledge it."""
        worker, seq = str(data["worker"]), int(data["seq"])
        stream = self.streams.get(worker)
        if stream is None:
            stream = self.streams[worker] = WorkerStream(worker, client_id)
        stream.client_id = client_id
        now = time.time()
        stream.last_at_s = now
        if stream.first_at_s is None:
            stream.first_at_s = now
        if not stream.seen(seq):
            try:
                batch = RecordBatch.from_wire(data["batch"], worker=worker)
            except (KeyError, TypeError, ValueError) as exc:
                self.rejected += 1
                log.error("chatbench: records batch %d from %s cannot be read: %s", seq, worker, exc)
                return  # not acknowledged: the sender resends it, and the run names the worker as lossy
            self._write(stream, batch, data.get("monitor") or ())
            stream.add(seq)
            stream.batches += 1
            if self.hub is not None and len(batch):
                self.hub.publish(batch)
        if data.get("mark") is not None:
            stream.marks[int(data["mark"])] = seq
        if data.get("final"):
            stream.final_seq = seq
        stream.final = stream.final_seq is not None and stream.final_seq <= stream.upto
        if self._ack is not None:
            self._ack(client_id, {"seq": seq, "upto": stream.upto})

    def _write(self, stream: WorkerStream, batch: RecordBatch, monitor: Any) -> None:
        if len(batch):
            parts = []
            for start in range(0, len(batch), _SLICE):
                if start:
                    gevent.sleep(0)
                parts.append(batch.jsonl(start, start + _SLICE))
            self._io.apply(_append, (self._file(stream, "records"), b"".join(parts)))
            stream.records += len(batch)
            self.records += len(batch)
        if monitor:
            data = b"".join(bytes(line) + b"\n" for line in monitor)
            self._io.apply(_append, (self._file(stream, "monitor"), data))

    def _file(self, stream: WorkerStream, kind: str) -> BinaryIO:
        f = stream.files.get(kind)
        if f is None:
            path = self.run_dir / kind / f"{stream.worker}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            f = stream.files[kind] = path.open("ab")
        return f

    def close(self) -> None:
        files = [f for stream in self.streams.values() for f in stream.files.values()]
        for stream in self.streams.values():
            stream.files.clear()
        self._io.apply(_close, (files,))  # after every write queued before it

    def summary(self) -> dict[str, Any]:
        """What ``run.json`` says of the load generators: each one's records, and the ones lost."""
        workers = {
            s.worker: {"records": s.records, "batches": s.batches, "first_at_s": s.first_at_s,
                       "last_at_s": s.last_at_s, "lost": s.lost_at_s is not None}
            for s in sorted(self.streams.values(), key=lambda s: s.worker)
        }  # fmt: skip
        lost = [
            {
                "worker": s.worker,
                "lost_at_s": s.lost_at_s,
                "last_batch_at_s": s.last_at_s,
                "records": s.records,
                "why": "no heartbeat and no end of its records: what it recorded after its last batch is lost",
            }
            for s in sorted(self.streams.values(), key=lambda s: s.worker)
            if s.lost_at_s is not None
        ]
        return {"workers": workers, "lost_workers": lost}
