"""No orphan load: whatever ends ``chatbench run``, its Locust child (and forked workers) and its mock end too.

The target is a tiny counting server on 127.0.0.1; after ``chatbench run`` is killed with SIGKILL, no
request may reach it a few seconds later, and ``chatbench report`` still rebuilds the report from what
was recorded. Ctrl-C (SIGINT) keeps ending a run within seconds, with its records and report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.lifeline import ENV_VAR, Lifeline, inherited_fd
from bench.mock.settings import PROBE_REQUEST_ID
from tests.load.helpers import write_scenario

ROOT = Path(__file__).resolve().parents[2]
ANSWER = json.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-answer is expected here


class CountingServer:
    """Answers every chat request after 50 ms and counts the load's requests it received (not the probe's)."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = b'{"object":"list","data":[{"id":"o","object":"model"}]}'
                self._send(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner.lock:
                    owner.requests += self.headers.get("X-Request-Id") != PROBE_REQUEST_ID
                time.sleep(0.05)
                self._send(ANSWER)

            def _send(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.lock = threading.Lock()
        self.requests = 0
        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self) -> int:
        with self.lock:
            return self.requests

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def counting() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


def _start_run(scenario: Path, tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        return _popen(scenario, tmp_path, stderr, *extra)


def _popen(scenario: Path, tmp_path: Path, stderr: object, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            str(scenario),
            "--results-dir",
            str(tmp_path / "results"),
            "--run-id",
            "r",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr,  # type: ignore[arg-type]
        start_new_session=True,
    )


def _wait_for_requests(server: CountingServer, n: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while server.count() < n:
        assert time.monotonic() < deadline, "the run sent no load"
        time.sleep(0.1)


@pytest.mark.parametrize("processes", [0, 2])
def test_sigkill_of_chatbench_run_stops_all_load(counting: CountingServer, tmp_path: Path, processes: int):
    scenario = write_scenario(tmp_path, stream=False, load={"users": 4, "duration_s": 60})
    extra = ["--host", counting.url, *(["--processes", str(processes)] if processes else [])]
    proc = _start_run(scenario, tmp_path, *extra)
    try:
        _wait_for_requests(counting, 20)
    finally:
        proc.kill()  # SIGKILL: chatbench runs no code of its own any more
        proc.wait(10)
    time.sleep(1.5)  # the children see the lifeline end at once; let answers in flight finish
    seen = counting.count()
    time.sleep(5.0)
    assert counting.count() == seen, "load reached the target after chatbench was killed"
    # The report is rebuilt from what was recorded before the kill.
    run_dir = tmp_path / "results" / "r"
    report = subprocess.run(
        [sys.executable, "-m", "bench", "report", str(run_dir)], cwd=ROOT, capture_output=True, timeout=120
    )
    assert report.returncode == 0, report.stderr.decode()
    summary = json.loads((run_dir / "summary.json").read_text())
    # Every request the target received has its record: the load generators stop their users (a request
    # in flight is recorded as cancelled) and a worker's last batch is acknowledged before it exits.
    assert summary["run"]["records"] >= seen, (seen, summary["run"])
    assert "jsonl" in summary["run"]["source"]  # read from the records written before the kill


def test_ctrl_c_ends_a_run_within_seconds_with_records_and_report(counting: CountingServer, tmp_path: Path):
    scenario = write_scenario(tmp_path, stream=False, load={"users": 2, "duration_s": 60})
    proc = _start_run(scenario, tmp_path, "--host", counting.url)
    _wait_for_requests(counting, 10)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    start = time.monotonic()
    proc.wait(30)
    assert time.monotonic() - start < 10
    assert proc.returncode == 130, (tmp_path / "stderr.txt").read_text()
    run_dir = tmp_path / "results" / "r"
    assert (run_dir / "records.parquet").is_file() and (run_dir / "report.html").is_file()
    seen = counting.count()
    time.sleep(2.0)
    assert counting.count() == seen


def test_a_lifeline_is_only_taken_from_a_pipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with open(tmp_path / "f", "wb") as f:
        monkeypatch.setenv(ENV_VAR, str(f.fileno()))
        assert inherited_fd() is None  # a plain file of that number is not a lifeline
    monkeypatch.setenv(ENV_VAR, "nope")
    assert inherited_fd() is None
    assert ENV_VAR not in os.environ  # taken out, so children started from here do not inherit it


def test_cutting_the_lifeline_stops_the_mock(tmp_path: Path) -> None:
    from bench.mock.process import start_mock

    handle = start_mock(log_path=tmp_path / "mock.log")
    handle._lifeline.cut()
    deadline = time.monotonic() + 5
    while handle.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not handle.running
    assert handle.stop() == 0
    assert "is gone" in (tmp_path / "mock.log").read_text()
    Lifeline().cut()  # a lifeline never handed on can be cut too
