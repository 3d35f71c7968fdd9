"""The scraper: parsing with prometheus_client, one JSON line per scrape, failures as kinds, the process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from bench.mock.server import running_in_thread
from bench.mock.settings import MockSettings
from bench.servermetrics.scraper import GIVE_UP, Scraper, _Failure, parse_text
from bench.servermetrics.store import write_store

TEXT = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 120.0
vllm:generation_tokens_created{engine="0",model_name="m"} 1.7e9
"""


def test_parse_text_keeps_samples_with_their_family_labels_and_help() -> None:
    samples, meta = parse_text(TEXT)
    assert samples == [
        ["vllm:num_requests_running", "vllm:num_requests_running", '{"engine":"0","model_name":"m"}', 3.0],
        ["vllm:generation_tokens", "vllm:generation_tokens_total", '{"engine":"0","model_name":"m"}', 120.0],
    ]  # the counter's *_created timestamp is left out
    assert meta["vllm:generation_tokens"] == ["counter", "Number of generation tokens processed."]


@pytest.mark.parametrize(
    "text", ["<html><body>502</body></html>", '{"status": "ok"}', "", "# only a comment\n"]
)
def test_text_that_is_not_prometheus_is_a_failure_kind(text: str) -> None:
    with pytest.raises(_Failure) as info:
        parse_text(text)
    assert info.value.kind == "not_prometheus"


class _Handler(BaseHTTPRequestHandler):
    delay_s = 0.0
    body = TEXT.encode()

    def do_GET(self) -> None:
        time.sleep(self.delay_s)
        self.send_response(200)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _serving(delay_s: float = 0.0) -> Iterator[str]:
    handler = type("H", (_Handler,), {"delay_s": delay_s})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def _once(url: str, timeout_s: float = 1.0) -> dict[str, object]:
    scraper = Scraper(url, timeout_s)
    try:
        return scraper.scrape()
    finally:
        scraper.close()


def test_scrapes_reuse_one_connection_and_failures_have_kinds() -> None:
    with running_in_thread(MockSettings(port=0)) as url:
        scraper = Scraper(url + "/metrics", 1.0)
        lines = [scraper.scrape() for _ in range(3)]
        scraper.close()
        assert all(line["ok"] for line in lines)
        assert "meta" in lines[0] and "meta" not in lines[1]  # help texts once, not every second
        assert _once(url + "/nope")["kind"] == "http_404"
        assert _once(url + "/health")["kind"] == "not_prometheus"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _once(f"http://127.0.0.1:{port}/metrics")["kind"] == "refused"


def test_a_slow_endpoint_is_cut_at_the_timeout() -> None:
    with _serving(delay_s=1.0) as url:
        t0 = time.monotonic()
        line = _once(url, 0.2)
        assert line["kind"] == "timeout" and time.monotonic() - t0 < 0.6


def _scraper_process(url: str, out: Path, interval: float = 0.1) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.servermetrics.scraper", url, str(out)]
    return subprocess.Popen([*command, "--interval", str(interval), "--timeout", "0.5"])


def test_the_process_scrapes_on_schedule_and_takes_a_last_scrape_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "server_metrics.jsonl"
    with _serving() as url:
        proc = _scraper_process(url, out)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)  # ignored: Ctrl-C reaches the whole group, the runner stops it
        time.sleep(0.2)
        assert proc.poll() is None
        before = len(out.read_bytes().splitlines())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert len(lines) >= before and 8 <= len(lines) <= 20, len(lines)  # 0.1 s ticks over ~1.7 s
    assert all(line["ok"] for line in lines)
    assert lines[-1]["cpu_s"] > 0 and all("cpu_s" not in line for line in lines[:-1])
    status = write_store(tmp_path, url=url, interval_s=0.1)
    assert status["ok"] == len(lines) and status["samples"] == 2 * len(lines)
    assert status["scraper_cpu_s"] == lines[-1]["cpu_s"]
    assert status["families"]["vllm:num_requests_running"][1].startswith("Number of requests")


def test_the_process_gives_up_on_a_server_without_metrics(tmp_path: Path) -> None:
    out = tmp_path / "server_metrics.jsonl"
    with running_in_thread(MockSettings(port=0)) as url:
        proc = _scraper_process(url + "/no-metrics-here", out, interval=0.05)
        assert proc.wait(10) == 0
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert len(lines) == GIVE_UP and lines[-1]["gave_up"] and lines[-1]["kind"] == "http_404"
    status = write_store(tmp_path, url=url, interval_s=0.05)
    assert status["ok"] == 0 and status["gave_up"] and status["first_error"] == "HTTP 404 Not Found"


def test_the_scraper_stops_when_its_lifeline_to_chatbench_ends(tmp_path: Path) -> None:
    """What happens when chatbench is killed: the kernel closes the pipe's write end (here: cut())."""
    from bench.servermetrics.process import start_scraper

    with _serving() as url:
        handle = start_scraper(url, tmp_path, interval_s=0.1, timeout_s=0.5)
        time.sleep(0.5)
        assert handle.proc.poll() is None
        handle.lifeline.cut()
        assert handle.proc.wait(3) == 0
    lines = (tmp_path / "server_metrics.jsonl").read_bytes().splitlines()
    assert 2 <= len(lines) <= 10
    assert b"is gone; stopping" in (tmp_path / "server_metrics.log").read_bytes()
