"""With Locust's --web-login, the LLM tab's data, the charts page and the reports need the login too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.load.runner import LOCUSTFILE
from tests.live.test_dashboard import write_scenario
from tests.load.helpers import free_port

AUTH = Path(__file__).with_name("auth_locustfile.py")


@pytest.mark.slow
def test_every_live_route_is_behind_the_web_login(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            f"{LOCUSTFILE},{AUTH}",
            "--scenario",
            str(write_scenario(tmp_path)),
            "--results-dir",
            str(tmp_path / "results"),
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(port),
            "--web-login",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/login", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "Locust did not come up"
                time.sleep(0.3)
        for path in (
            "/llm/state",
            "/llm/series",
            "/llm/charts",
            "/llm/tests/1/report.html",
            "/stats/requests",
        ):
            answer = httpx.get(url + path, timeout=5)
            assert answer.status_code == 302 and "/login" in answer.headers["location"], path
        with httpx.Client(base_url=url, timeout=5) as client:
            assert client.get("/test-login").text == "ok"
            state = client.get("/llm/state")
            assert state.status_code == 200 and state.json()["tests"] == []
            assert client.get("/llm/charts").status_code == 200
            assert "extended_stats" in client.get("/stats/requests").json()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # never leave it running past the test
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
