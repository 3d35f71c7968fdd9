"""A target that goes down mid-run fails the gate: exit 3, the error-rate breach named, every failed
request in the summary's error rate, and a one-line outage verdict. Real `chatbench run`s of 8 s,
against the mock killed with SIGKILL, and against a server that starts refusing connections."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import orjson
import pytest
import yaml

from bench.cli import main
from bench.mock.process import start_mock
from bench.mock.settings import MockSettings
from tests.load.helpers import read_request

pytestmark = pytest.mark.slow

RUN_S = 8.0
DIES_AT_S = 3.5  # after the load started (chatbench's own start-up comes before)


def _scenario(tmp_path: Path, base_url: str, *, stream: bool) -> Path:
    data = {
        "name": "outage",
        "seed": 1,
        "target": {
            "base_url": base_url,
            "model": "o",
            "profile": "seed",
            "timeouts": {"connect_s": 2, "first_byte_s": 5, "total_s": 10},
        },
        "prompt_sets": [{"name": "p", "inline": ["hello there"]}],
        "sampling": {"temperature": 0.5, "stream": stream},
        "load": {"users": 2, "spawn_rate": 10, "duration_s": RUN_S, "think_time_s": 0.05},
        "slo": {"ttft_ms": {"p95": 2000}, "e2e_ms": {"p95": 5000}, "error_rate": 0.01},
    }
    path = tmp_path / "outage.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


def _when_load_starts(results: Path, then: object) -> threading.Thread:
    """Call ``then()`` DIES_AT_S after the run's first stage started (as recorded in its run.json)."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for run_json in results.glob("*/run.json"):
                try:
                    stages = json.loads(run_json.read_text())["schedule"]["stages"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                if stages:
                    time.sleep(max(0.0, stages[0]["started_at_s"] + DIES_AT_S - time.time()))
                    then()  # type: ignore[operator]
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _check_outage(results: Path, code: int, out: str) -> None:
    assert code == 3, out
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    slo = json.loads((run_dir / "slo.json").read_text())
    breached = [c["name"] for c in slo["checks"] if not c["passed"]]
    assert "error_rate" in breached, slo
    assert "BREACH  error_rate" in out
    assert any(line.startswith("target unreachable from") for line in slo["outages"]), slo
    assert "OUTAGE  target unreachable from" in out and "to the end" in out
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    steady = summary["steady"]
    # After the outage the users back off (bench.load.breaker), so the count is modest, but all of it.
    assert steady["failed"] >= 5 and steady["error_rate"] == steady["failed"] / steady["requests"], steady
    # Every failed request of the records is in the summary's count (cancelled ones aside).
    records = [
        json.loads(line)
        for path in (run_dir / "records").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    failed = sum(1 for r in records if r["error_kind"] not in (None, "cancelled"))
    assert steady["failed"] == failed
    assert slo["failed"] == failed
    # The window is the schedule's, not shrunk around the outage: it covers most of the run.
    assert summary["window"]["source"] == "schedule"
    assert summary["window"]["duration_s"] > RUN_S - 1.5


def test_the_mock_killed_mid_run_fails_the_gate_on_the_error_rate(tmp_path, capsys):
    settings = MockSettings(port=0, prefill_base_ms=20, tpot_ms=5, output_tokens=8, output_dist="fixed")
    handle = start_mock(settings)
    try:
        results = tmp_path / "results"
        _when_load_starts(results, lambda: os.kill(handle.pid, signal.SIGKILL))
        code = main(["run", str(_scenario(tmp_path, handle.url, stream=True)), "--results-dir", str(results)])
    finally:
        handle.stop()
    _check_outage(results, code, capsys.readouterr().out)


class _RefusingServer:
    """Answers chat completions (JSON, keep-alive) until ``refuse()``; then closes its port and every
    connection, so each new request gets 'connection refused'."""

    BODY = orjson.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "model": "o",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            while not self.closed.is_set():
                head = conn.recv(65536, socket.MSG_PEEK)
                if not head:
                    return
                if head.startswith(b"GET"):
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    continue
                read_request(conn)
                time.sleep(0.02)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(self.BODY)}\r\n\r\n".encode()
                    + self.BODY
                )
        except OSError:
            return
        finally:
            conn.close()

    def refuse(self) -> None:
        self.closed.set()
        self.sock.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


def test_a_server_that_starts_refusing_connections_fails_the_gate(tmp_path, capsys):
    server = _RefusingServer()
    results = tmp_path / "results"
    try:
        _when_load_starts(results, server.refuse)
        code = main(
            ["run", str(_scenario(tmp_path, server.url, stream=False)), "--results-dir", str(results)]
        )
    finally:
        server.refuse()
    _check_outage(results, code, capsys.readouterr().out)
