"""Whole runs against the embedded mock: the server's metrics are scraped, stored, drawn and cross-checked."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
import yaml

from bench.load.runner import run_load
from bench.report import build_report
from bench.report.server_metrics import PANEL_CAPTION
from tests.load.helpers import write_scenario

pytestmark = pytest.mark.slow


def _scenario(tmp_path: Path, server_metrics: Any = None, **kw: Any) -> Path:
    path = write_scenario(tmp_path, **kw)
    if server_metrics is not None:
        data = yaml.safe_load(path.read_text("utf-8"))
        data["server_metrics"] = server_metrics
        path.write_text(yaml.safe_dump(data), "utf-8")
    return path


def _run(scenario: Path, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    outcome = run_load(scenario, results_dir=tmp_path / "results", progress=False)
    report = build_report(outcome.run_dir)
    return outcome.run_dir, report.summary.to_json()


def test_a_mock_run_stores_server_metrics_draws_the_panel_and_the_token_counters_agree(
    tmp_path: Path,
) -> None:
    scenario = _scenario(
        tmp_path,
        mock={"batch_slots": 2, "prefill_base_ms": 20, "tpot_ms": 5, "output_tokens": 40},
        load={"users": 4, "duration_s": 4},
    )
    run_dir, summary = _run(scenario, tmp_path)
    samples = pd.read_parquet(run_dir / "server_metrics.parquet")
    assert list(samples.columns) == ["t_s", "family", "name", "labels", "value"]
    run_start = orjson.loads((run_dir / "run.json").read_bytes())["started_at_s"]
    assert samples["t_s"].min() >= run_start - 1 and samples["t_s"].nunique() >= 4  # 1 Hz over ~5 s
    running = samples[samples["name"] == "vllm:num_requests_running"]["value"]
    waiting = samples[samples["name"] == "vllm:num_requests_waiting"]["value"]
    assert running.max() == 2 and waiting.max() >= 1  # 4 users on 2 slots: a queue, seen by the server
    block = summary["server_metrics"]
    assert block["server"] == "vLLM" and block["note"] is None
    assert not any(n.startswith("server metrics") for n in summary["notes"])
    tokens = block["tokens"]
    assert tokens["client_tokens"] > 0
    assert abs(tokens["difference_pct"]) <= 1.0, tokens
    assert (run_dir / "server_metrics.png").stat().st_size > 10_000
    page = (run_dir / "report.html").read_text("utf-8")
    assert (
        PANEL_CAPTION in page and "Server tokens against client tokens" in page and "agree within 5 %" in page
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_metrics_endpoint_is_one_note_never_a_failed_run(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/metrics"
    scenario = _scenario(tmp_path, server_metrics={"url": url}, load={"users": 1, "duration_s": 2})
    run_dir, summary = _run(scenario, tmp_path)
    notes = [n for n in summary["notes"] if n.startswith("server metrics")]
    assert len(notes) == 1 and url in notes[0] and "refused" in notes[0], summary["notes"]
    assert summary["steady"]["requests"] > 0 and summary["steady"]["failed"] == 0
    assert not (run_dir / "server_metrics.png").exists()
    assert "server metrics: none from" in (run_dir / "report.html").read_text("utf-8")


def test_scraping_can_be_turned_off(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, server_metrics={"enabled": False}, load={"users": 1, "duration_s": 1})
    run_dir, summary = _run(scenario, tmp_path)
    assert not (run_dir / "server_metrics.jsonl").exists() and "server_metrics" not in summary


HOSTILE = """# HELP vllm:num_requests_running <script>alert(1)</script> running
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="<img src=x onerror=alert(2)>"} 1.0
# HELP vllm:generation_tokens_total tokens | pipes <b>
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{model_name="<img src=x onerror=alert(2)>"} 5.0
"""


@contextmanager
def _hostile_metrics() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = HOSTILE.encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_the_one_url_the_scenario_names_is_scraped_and_its_texts_are_escaped(tmp_path: Path) -> None:
    with _hostile_metrics() as url:
        scenario = _scenario(tmp_path, server_metrics={"url": url}, load={"users": 1, "duration_s": 2})
        run_dir, _ = _run(scenario, tmp_path)
    status = orjson.loads((run_dir / "server_metrics.json").read_bytes())
    assert status["url"] == url and status["ok"] >= 2
    page = (run_dir / "report.html").read_text("utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>" not in page
    markdown = (run_dir / "summary.md").read_text("utf-8")
    assert "<script>" not in markdown and "tokens \\| pipes" in markdown
