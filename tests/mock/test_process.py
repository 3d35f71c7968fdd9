"""start_mock and `chatbench mock` as a user runs them: one listening line, clean stop, clear errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import orjson
import pytest

from bench.errors import MockError
from bench.mock import MockSettings, start_mock
from tests.mock.conftest import body


def test_start_mock_serves_and_stops_cleanly(tmp_path):
    truth = tmp_path / "truth.jsonl"
    settings = MockSettings(tpot_ms=1, prefill_base_ms=1, batch_slots=2, truth_log=str(truth))
    with start_mock(settings) as mock:
        assert mock.url.startswith("http://127.0.0.1:")
        assert mock.running
        r = httpx.post(mock.url + "/v1/chat/completions", json=body(), headers={"X-Request-Id": "abc-1"})
        assert r.status_code == 200
        code = mock.stop()
    assert code == 0
    lines = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    assert [line["request_id"] for line in lines] == ["abc-1"]


def test_sigterm_in_the_middle_of_a_stream_loses_no_truth_line(tmp_path):
    truth = tmp_path / "truth.jsonl"
    mock = start_mock(MockSettings(tpot_ms=50, output_dist="fixed", output_tokens=100, truth_log=str(truth)))
    with httpx.stream("POST", mock.url + "/v1/chat/completions", json=body(stream=True), timeout=10) as r:
        lines = r.iter_lines()  # kept: a dropped iterator would close the response
        next(lines)
        assert mock.stop() == 0
    (line,) = [orjson.loads(x) for x in truth.read_bytes().splitlines()]
    assert line["ended"] == "server_stopped"
    assert line["stream"] is True


def test_port_in_use_is_a_clear_mock_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "mock", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_start_mock_reports_why_the_mock_died():
    with pytest.raises(MockError, match="exited"):
        start_mock(MockSettings(host="no.such.host.invalid"))


def test_cli_prints_one_line_and_exits_0_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "mock", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("chatbench mock listening on http://127.0.0.1:")
    assert httpx.get(line.split(" on ")[1].strip() + "/health").status_code == 200
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out == "" and "Traceback" not in err


def test_bad_flag_value_is_a_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "mock", "--batch-slots", "0"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert "--batch-slots: must be at least 1" in proc.stderr


def test_start_mock_imports_only_the_standard_library():
    """The gevent-patched load side imports it: no asyncio, uvloop, httptools or orjson may come along."""
    code = (
        "import sys, bench.mock.process, bench.mock\n"
        "print(','.join(m for m in ('asyncio', 'uvloop', 'httptools', 'orjson', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
