"""chatbench against a real LLM server: llama.cpp's llama-server serving the tiny stories260K model.

The binary comes from ``scripts/llama-server.sh`` (built offline from the PyPI sdist and cached);
``.ci/run`` builds it, so in CI this test always runs. The model is ``../shared/models/stories260K.gguf``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pandas as pd
import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT.parent / "shared" / "models" / "stories260K.gguf"
TOKENIZER = ROOT.parent / "shared" / "models" / "stories260K-tokenizer" / "tokenizer.json"
CACHED = Path.home() / ".cache" / "chatbench" / "llama-server-0.3.36" / "llama-server"

pytestmark = pytest.mark.slow


def _binary() -> str | None:
    named = os.environ.get("CHATBENCH_LLAMA_SERVER")
    for candidate in (named, str(CACHED), shutil.which("llama-server")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    binary = _binary()
    if binary is None or not MODEL.is_file():
        if IN_CI:
            pytest.fail(
                "llama-server or the model is missing: .ci/run builds it with scripts/llama-server.sh"
            )
        pytest.skip("no llama-server binary (run scripts/llama-server.sh) or no ../shared/models")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "-m",
            str(MODEL),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-np",
            "4",
            "-c",
            "4096",
            "-t",
            "1",
            "--metrics",  # Prometheus /metrics, scraped by every run (bench.servermetrics)
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("llama-server did not become healthy within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], pd.DataFrame]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", *args, "--results-dir", str(tmp_path), "--no-slo"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_dir,) = list(tmp_path.iterdir())
    return proc, pd.read_parquet(run_dir / "records.parquet")


def test_openai_profile_streams_with_usage_and_no_errors(llama_url: str, tmp_path: Path) -> None:
    scenario = str(ROOT / "scenarios" / "openai-server.yaml")
    _, df = _run(
        tmp_path, scenario, "--host", llama_url, "--model", str(MODEL), "-u", "4", "-r", "4", "-t", "6"
    )
    assert len(df) > 20
    # llama-server closes the connection after every stream: no request may fail because of it.
    assert df["error_kind"].isna().all(), df["error_message"].dropna().unique()[:5]
    streamed = df[df["stream"]]
    assert len(streamed) > 0
    # <=: the last chunks and [DONE] often come in one read (llama-server writes them together), and
    # every line of a read has that read's time (docs/metrics.md), so a one-read answer has TTFT == E2E.
    assert streamed["ttft_ms"].notna().all() and (streamed["ttft_ms"] <= streamed["e2e_ms"]).all()
    # It honours stream_options.include_usage: token counts come from the server, capped by max_tokens.
    assert (df["token_source"] == "usage").all()
    assert (df["output_tokens"] <= df["max_tokens"]).all()
    # One gap per content chunk after the first. llama-server sends one token per chunk, but a token
    # whose text is empty (part of a UTF-8 character) gives no content chunk: chunks <= tokens, never more.
    gaps = streamed["itl_ms"].map(len)
    assert (gaps == streamed["chunks"] - 1).all()
    assert (streamed["chunks"] <= streamed["output_tokens"]).all()
    assert streamed["chunks"].sum() >= 0.95 * streamed["output_tokens"].sum()


def test_seed_profile_without_usage_counts_with_the_tokenizer_file(llama_url: str, tmp_path: Path) -> None:
    """The seed profile sends only the seven documented keys, non-streaming, and no max_tokens."""
    scenario = tmp_path / "seed-llama.yaml"
    scenario.write_text(
        f"""
name: seed-llama
target: {{profile: seed, tokenizer: {TOKENIZER}}}
prompt_sets:
  - name: zh
    inline: ["请介绍一下傅利叶公司", "拜拜"]
load: {{users: 2, spawn_rate: 2, duration_s: 4}}
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    _, df = _run(out, str(scenario), "--host", llama_url, "--model", str(MODEL))
    assert len(df) > 0 and df["error_kind"].isna().all(), df["error_message"].dropna().unique()[:5]
    assert (~df["stream"]).all() and df["ttft_ms"].isna().all()
    # llama-server sends usage on non-streaming answers too: the server's count wins over the tokenizer.
    assert (df["token_source"] == "usage").all()


def test_a_run_scrapes_llama_cpp_metrics_and_the_report_shows_them(llama_url: str, tmp_path: Path) -> None:
    scenario = str(ROOT / "scenarios" / "openai-server.yaml")
    _, df = _run(
        tmp_path, scenario, "--host", llama_url, "--model", str(MODEL), "-u", "4", "-r", "4", "-t", "5"
    )
    (run_dir,) = list(tmp_path.iterdir())
    samples = pd.read_parquet(run_dir / "server_metrics.parquet")
    processing = samples[samples["name"] == "llamacpp:requests_processing"]["value"]
    assert processing.nunique() > 1 and 1 <= processing.max() <= 4  # -np 4: at most four slots busy
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    block = summary["server_metrics"]
    assert block["server"] == "llama.cpp" and block["note"] is None, block
    assert block["sources"]["running"]["name"] == "llamacpp:requests_processing"
    assert block["sources"]["generated_tokens"]["name"] == "llamacpp:tokens_predicted_total"
    # The server's own counter against the usage it sent: the same tokens, counted twice.
    tokens = block["tokens"]
    assert tokens["client_tokens"] == df["output_tokens"].sum() > 0
    assert abs(tokens["difference_pct"]) <= 1.0, tokens
    page = (run_dir / "report.html").read_text("utf-8")
    assert "llamacpp:requests_processing" in page and "llamacpp:tokens_predicted_total" in page
    assert (run_dir / "server_metrics.png").is_file()


def test_a_shared_prefix_run_records_what_llama_cpp_reports(llama_url: str, tmp_path: Path) -> None:
    """llama-server reuses its slots' KV cache: it reports usage.prompt_tokens_details.cached_tokens
    (and timings.cache_n); it ignores continuous_usage_stats, which the report then calls not reported."""
    scenario = tmp_path / "shared-llama.yaml"
    scenario.write_text(
        f"""
name: shared-llama
target: {{profile: openai, tokenizer: {TOKENIZER}, options: {{continuous_usage_stats: true}}}}
prompt_sets:
  - name: apps
    shared_prefix: {{groups: 2, prefix_tokens: 300, suffix_tokens: 20, prompts_per_group: 8}}
sampling: {{temperature: 0.0, max_tokens: 8, stream: true}}
load: {{users: 2, spawn_rate: 2, duration_s: 5}}
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    _, df = _run(out, str(scenario), "--host", llama_url, "--model", str(MODEL))
    ok = df[df["error_kind"].isna()]
    assert len(ok) > 10 and len(ok) == len(df), df["error_message"].dropna().unique()[:5]
    assert ok["cached_tokens"].notna().all()  # reported on every answer
    hits = ok[ok["cached_tokens"] > 0]
    assert len(hits) >= len(ok) / 2  # the shared prefixes are found in the cache
    assert (hits["cached_tokens"] < hits["prompt_tokens"]).all()
    assert ok["chunk_tokens"].isna().all()  # continuous_usage_stats ignored: no per-chunk counts
    (run_dir,) = list(out.iterdir())
    work = orjson.loads((run_dir / "summary.json").read_bytes())["workload"]
    assert work["prefix_cache"]["reported"] and work["prefix_cache"]["hit_ratio"] >= 0.5
    assert work["chunks"] == {"reported": False}
    page = (run_dir / "report.html").read_text("utf-8")
    assert "prefix-cache hit ratio" in page and "not reported by the server" in page
