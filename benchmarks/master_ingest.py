"""How many records per second one master process takes in and writes, and its CPU per 1,000 records.

The master of a distributed run is the run's one writer: every worker's records reach it over Locust's
ZeroMQ messaging in batches (``bench.load.stream``). This measures that path on one core, end to end:

- a sender process (on another core) plays the workers: it makes realistic records (a stream of 65
  chunks: 64 gaps, the fields a real run fills), packs them into the batches a worker sends (``--batch``
  records each: 0.5 s of a worker at 400 records/s by default), serialises them as Locust does, and
  sends them all through a Locust ``rpc.Client`` as fast as ZeroMQ takes them;
- the master process (pinned to one core) runs what a Locust master runs for each message:
  ``rpc.Server.recv_from_client`` (msgpack decoding) and the ``RecordCollector`` (JSONL lines into
  ``records/<worker>.jsonl``, the record hub, the acknowledgement sent back), optionally with the live
  view subscribed to the hub (``--live``: ``bench.live``'s per-record subscription and its sketches).

It prints records/s (records over the master's wall time from the first message to the last written),
the master's CPU seconds per 1,000 records (user + system of the whole process, ZeroMQ's I/O thread
included), and what else the machine was doing (it is shared).

    .venv/bin/python benchmarks/master_ingest.py                       # 200,000 records
    .venv/bin/python benchmarks/master_ingest.py --records 400000 --live --repeat 3
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from pathlib import Path
from typing import Any

import locust  # noqa: F401  (gevent's monkey patching first, as in a Locust process)
from locust.rpc import Message, rpc

from bench.load.batch import BatchBuilder
from bench.load.hub import RecordHub
from bench.load.stream import ACK_MESSAGE, RECORDS_MESSAGE, RecordCollector
from bench.records import Record

GAPS = 64


def _record(i: int, worker: str) -> Record:
    gaps = array("d", (19.5 + (k * 7919 + i) % 100 / 97.0 for k in range(GAPS)))
    return Record(
        run_id="bench-20261201-000000", worker=worker, user=i % 256, request_id=uuid.uuid4().hex,
        scenario="chat-mix", prompt_set="sharegpt", prompt_id=f"sg-{i % 5000}", turn=i % 3, step=0,
        stream=True, temperature=0.7, top_p=0.95, presence_penalty=0.0, frequency_penalty=0.1, max_tokens=256,
        scheduled_at_s=None, started_at_s=1.7646e9 + i / 400, start_mono_s=1000.0 + i / 400, client_lag_ms=None,
        ttft_ms=101.234 + i % 7, itl_ms=gaps, e2e_ms=1400.5 + i % 11, prompt_tokens=120 + i % 400,
        output_tokens=GAPS + 1, token_source="usage", chunks=GAPS + 1, finish_reason="stop", status=200,
        error_kind=None, error_message=None, lg_cpu_pct=23.5, connect_ms=0.3 if i % 50 == 0 else None,
        ttfo_ms=101.234 + i % 7,
    )  # fmt: skip


def _sender(port: int, records: int, batch: int, workers: int) -> None:
    os.sched_setaffinity(0, {1 % (os.cpu_count() or 1)})
    clients = [rpc.Client("127.0.0.1", port, f"worker-{w}") for w in range(workers)]
    messages: list[tuple[int, Message]] = []
    made = 0
    seq = [0] * workers
    while made < records:
        w = (made // batch) % workers
        builder = BatchBuilder()
        for i in range(made, min(made + batch, records)):
            builder.add(_record(i, f"w{w}"))
        made += len(builder)
        seq[w] += 1
        data = {
            "worker": f"w{w}",
            "seq": seq[w],
            "batch": builder.take().to_wire(),
            "monitor": [],
            "mark": None,
        }
        messages.append((w, Message(RECORDS_MESSAGE, data, f"worker-{w}")))
    print("ready", flush=True)
    for w, msg in messages:
        clients[w].send(msg)
    time.sleep(3.0)  # let ZeroMQ hand over what is queued before the sockets close
    for c in clients:
        c.close(linger=2000)


def _busy_cores() -> tuple[float, float]:
    """Machine-wide busy and total CPU seconds so far (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [float(x) for x in fields]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def run_once(records: int, batch: int, workers: int, live: bool) -> dict[str, float]:
    os.sched_setaffinity(0, {0})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = rpc.Server("127.0.0.1", port)
    with tempfile.TemporaryDirectory(prefix="chatbench-ingest-") as tmp:
        hub = RecordHub()
        stats = None
        if live:
            from bench.live.aggregate import LiveStats
            from bench.live.views import record_views

            stats = LiveStats(prompt_sets=["sharegpt"])

            def on_batch(b: Any) -> None:
                for r in record_views(b):  # as bench.live.subscribe reads a batch
                    stats.add(r)

            hub.subscribe(on_batch)
        collector = RecordCollector(
            tmp, hub, lambda client, data: server.send_to_client(Message(ACK_MESSAGE, data, client))
        )
        sender = subprocess.Popen(
            [sys.executable, __file__, "--sender", str(port), "--records", str(records),
             "--batch", str(batch), "--workers", str(workers)],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert sender.stdout is not None and sender.stdout.readline().strip() == b"ready"
        got = 0
        t0 = cpu0 = None
        busy0 = (0.0, 0.0)
        last_fold = time.monotonic()
        while got < records:
            client_id, msg = server.recv_from_client()
            if msg.type != RECORDS_MESSAGE:
                continue
            if t0 is None:
                t0, cpu0, busy0 = time.perf_counter(), time.process_time(), _busy_cores()
            collector.receive(client_id, msg.data)
            got = collector.records
            if stats is not None and time.monotonic() - last_fold >= 1.0:
                stats.fold()  # the live view folds once a second
                last_fold = time.monotonic()
        if stats is not None:
            stats.fold()
        wall = time.perf_counter() - (t0 or 0.0)
        cpu = time.process_time() - (cpu0 or 0.0)
        busy1 = _busy_cores()
        collector.close()
        lines = sum(len(p.read_bytes().splitlines()) for p in Path(tmp, "records").glob("*.jsonl"))
        sender.wait(30)
        server.close(linger=0)
    machine_busy = (busy1[0] - busy0[0]) / wall
    return {
        "records": got,
        "lines": lines,
        "records_per_s": got / wall,
        "cpu_s_per_1000": cpu / got * 1000,
        "master_cpu_pct": 100 * cpu / wall,
        "other_load_cores": max(0.0, machine_busy - cpu / wall),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=200, help="records per batch (a worker's 0.5 s)")
    parser.add_argument("--workers", type=int, default=16, help="senders the batches are spread over")
    parser.add_argument("--live", action="store_true", help="also with the live view subscribed")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sender", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        _sender(args.sender, args.records, args.batch, args.workers)
        return
    variants = [False, True] if args.live else [False]
    for live in variants:
        rows = [run_once(args.records, args.batch, args.workers, live) for _ in range(args.repeat)]
        for row in rows:
            assert row["lines"] == row["records"] == args.records, row
        rate = statistics.median(r["records_per_s"] for r in rows)
        cpu = statistics.median(r["cpu_s_per_1000"] for r in rows)
        other = statistics.median(r["other_load_cores"] for r in rows)
        print(
            f"master ingest{' + live view' if live else ''}: {rate:,.0f} records/s on one core, "
            f"{cpu * 1000:.1f} ms CPU per 1,000 records ({GAPS} gaps each, batches of {args.batch}, "
            f"{args.workers} senders; median of {len(rows)}; other load on the machine {other:.2f} cores)",
            flush=True,
        )


if __name__ == "__main__":
    main()
