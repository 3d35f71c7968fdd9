"""A dead target is not hammered: closed-loop backoff after connect errors, and the circuit breaker."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.load.breaker import Backoff, Reachability, unreachable_since
from bench.load.runner import run_load
from bench.records import read_jsonl
from tests.load.helpers import write_scenario

MODELS = json.dumps({"object": "list", "data": [{"id": "o", "object": "model"}]}).encode()


def test_backoff_doubles_up_to_its_bound_and_a_connection_resets_it() -> None:
    backoff = Backoff(0.1, 0.5)
    waits = [backoff.after("connect_error") for _ in range(5)]
    assert waits == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert backoff.after("http_error") == 0.0  # the server answered: no wait, and start again
    assert backoff.after("connect_timeout") == 0.1
    assert backoff.after(None) == 0.0


def test_reachability_is_the_start_of_the_current_run_of_connect_failures() -> None:
    reach = Reachability()
    reach.saw("connect_error", 10.0)
    reach.saw("connect_timeout", 11.0)
    assert reach.since_s == 10.0
    reach.saw("http_error", 12.0)  # it answered, even with an error: reachable
    assert reach.since_s is None
    assert unreachable_since([10.0, 12.0]) == 12.0
    assert unreachable_since([10.0, None]) is None  # one process still reaches it
    assert unreachable_since([]) is None


class GoneAfterProbe:
    """Answers the pre-load probe (GET /v1/models and one chat request) and ``answers`` more chat
    requests, one per connection, then stops listening: every later request meets a refused connection."""

    def __init__(self, answers: int = 0) -> None:
        self.connections = 2 + answers
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self.sock:
            for _ in range(self.connections):
                conn, _ = self.sock.accept()
                with conn:
                    head = conn.recv(65536)
                    if head.startswith(b"POST"):
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
                            b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
                        )
                    else:
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                            + b"content-length: %d\r\n\r\n" % len(MODELS)
                            + MODELS
                        )


@pytest.mark.parametrize("stop_s", [2.0, None])
def test_a_target_that_went_away_is_not_hammered_and_the_breaker_stops_the_run(
    tmp_path: Path, stop_s: float | None
) -> None:
    server = GoneAfterProbe()
    scenario = write_scenario(tmp_path, load={"users": 2, "duration_s": 8, "think_time_s": 0})
    text = scenario.read_text().replace(
        "base_url: null", f"base_url: null\n  stop_when_unreachable_s: {stop_s or 'null'}"
    )
    scenario.write_text(text)
    start = time.monotonic()
    outcome = run_load(scenario, {"host": server.url}, results_dir=tmp_path / "results", progress=False)
    took = time.monotonic() - start
    records, _ = read_jsonl((outcome.run_dir / "records").glob("*.jsonl"))
    assert records and {r["error_kind"] for r in records} == {"connect_error"}
    # 2 users with no think time: without the backoff tens of thousands of requests (issue 10);
    # with it (0.1 s doubling to 2 s) a handful per user per few seconds.
    assert len(records) <= 2 * 12, len(records)
    if stop_s is None:
        assert took >= 8
    else:
        assert outcome.records == len(records)
        schedule = json.loads((outcome.run_dir / "run.json").read_text())["schedule"]
        assert schedule["stop_reason"] == "target_unreachable"
        # Stopped early, about 2 s after the first refused connection (the load's own clock, not the
        # wall time of the whole run, which a busy machine stretches with process start-up).
        loaded_s = schedule["load_stopped_at_s"] - schedule["stages"][0]["started_at_s"]
        assert loaded_s < 7, (loaded_s, took)
        first = min(r["started_at_s"] for r in records)
        assert abs(schedule["unreachable_since_s"] - first) < 0.5


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("answers", "code"), [(5, 3), (0, 2)])
def test_a_run_the_breaker_stopped_never_passes(tmp_path: Path, answers: int, code: int) -> None:
    """No SLO at all, yet the run is not a pass: 3 when the target answered and then went away,
    2 when it answered none of the load."""
    server = GoneAfterProbe(answers)
    scenario = write_scenario(tmp_path, load={"users": 1, "duration_s": 20, "think_time_s": 0})
    text = scenario.read_text().replace("base_url: null", "base_url: null\n  stop_when_unreachable_s: 2")
    scenario.write_text(text)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            str(scenario),
            "--host",
            server.url,
            "--results-dir",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "the run stopped early" in proc.stderr
    if answers:
        assert "target unreachable from" in proc.stdout + proc.stderr
