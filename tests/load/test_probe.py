"""Fail fast: before any load, the probe catches a wrong model, a wrong path or a refused key, and
quotes the server's own message; exit 2 with one line and no run directory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.errors import TargetError
from bench.load.runner import probe_scenario
from bench.mock.process import start_mock
from bench.mock.settings import MockSettings
from bench.scenario.loader import load_scenario
from tests.load.helpers import write_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with start_mock(MockSettings(port=0, model="o", prefill_base_ms=0, tpot_ms=1)) as handle:
        yield str(handle.url)


class Scripted:
    """Answers GET and POST with fixed (status, JSON body) pairs and counts the POSTs."""

    def __init__(self, get: tuple[int, dict], post: tuple[int, dict]) -> None:
        owner = self
        self.posts = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send(*get)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.posts += 1
                self._send(*post)

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _scenario(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    return load_scenario(write_scenario(tmp_path), overrides)


def test_a_model_the_server_does_not_list_is_named_with_what_it_serves(tmp_path: Path, mock_url: str) -> None:
    with pytest.raises(
        TargetError, match=r"HTTP 404: .*'nope' does not exist.* not in GET /v1/models, which lists: o"
    ):
        probe_scenario(_scenario(tmp_path, model="nope"), mock_url)


def test_a_server_that_serves_any_name_passes_though_its_list_differs(tmp_path: Path) -> None:
    # llama.cpp lists its model file's path and answers whatever model name a request carries.
    server = Scripted((200, {"data": [{"id": "/models/stories260K.gguf"}]}), (200, {"choices": []}))
    try:
        probe_scenario(_scenario(tmp_path, model="o"), server.url)
        assert server.posts == 1
    finally:
        server.close()


def test_a_wrong_path_quotes_the_servers_404(tmp_path: Path, mock_url: str) -> None:
    scenario = _scenario(tmp_path)
    from dataclasses import replace

    scenario = replace(scenario, target=replace(scenario.target, path="/v1/chat/completion"))
    with pytest.raises(TargetError, match=r"HTTP 404: no route /v1/chat/completion"):
        probe_scenario(scenario, mock_url)


def test_the_embedded_mock_answers_an_unknown_model_with_404_as_vllm_does(tmp_path: Path) -> None:
    # A server without /v1/models: the chat probe decides, with the server's own message.
    with start_mock(MockSettings(port=0, model="served")) as handle:
        scenario = _scenario(tmp_path, model="nope")
        import httpx

        r = httpx.post(
            str(handle.url) + "/v1/chat/completions",
            json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.status_code == 404 and "'nope' does not exist" in r.json()["error"]["message"]
    server = Scripted(
        (404, {"detail": "Not Found"}), (404, {"error": {"message": "The model `nope` does not exist."}})
    )
    try:
        with pytest.raises(TargetError, match=r"HTTP 404: The model `nope` does not exist"):
            probe_scenario(scenario, server.url)
        assert server.posts == 1  # one probe request, no load
    finally:
        server.close()


def test_a_refused_key_is_an_authentication_error(tmp_path: Path) -> None:
    server = Scripted(
        (401, {"error": {"message": "invalid api key"}}), (401, {"error": {"message": "invalid api key"}})
    )
    try:
        with pytest.raises(TargetError, match=r"HTTP 401: invalid api key \(check target.api_key_env"):
            probe_scenario(_scenario(tmp_path), server.url)
        assert server.posts == 0
    finally:
        server.close()


def test_busy_answers_do_not_stop_the_run(tmp_path: Path) -> None:
    server = Scripted((404, {}), (429, {"error": {"message": "slow down"}}))
    try:
        probe_scenario(_scenario(tmp_path), server.url)  # 429 says "later", not "never"
    finally:
        server.close()


def _chatbench_run(scenario: Path, results: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bench", "run", str(scenario), "--results-dir", str(results), *flags]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_run_with_a_wrong_model_exits_2_before_any_load(tmp_path: Path, mock_url: str) -> None:
    scenario = write_scenario(tmp_path, load={"users": 2, "duration_s": 30})
    results = tmp_path / "results"
    start = time.monotonic()
    proc = _chatbench_run(scenario, results, "--host", mock_url, "--model", "nope")
    assert proc.returncode == 2, proc.stderr
    assert "'nope' does not exist" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert time.monotonic() - start < 20
    assert not results.exists() or not any(results.iterdir())


def test_no_probe_skips_the_probe_request(tmp_path: Path) -> None:
    server = Scripted((404, {}), (404, {"error": {"message": "The model `o` does not exist."}}))
    try:
        scenario = write_scenario(tmp_path, stream=False, load={"users": 1, "duration_s": 3})
        proc = _chatbench_run(scenario, tmp_path / "results", "--host", server.url, "--no-probe")
        assert "refused before the load" not in proc.stderr
        assert server.posts >= 1  # the load itself went out (and failed: the report says so)
    finally:
        server.close()
