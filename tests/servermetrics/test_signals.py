"""Each server's names to the common signals: gauges summed or averaged, counters as increases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.servermetrics.names import SERVERS, detect_server
from bench.servermetrics.signals import signal_frame


def _samples(rows: list[tuple[float, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["t_s", "name", "labels", "value"])


E0, E1 = '{"engine":"0"}', '{"engine":"1"}'


def test_vllm_gauges_sum_over_engines_and_kv_is_their_mean() -> None:
    df = _samples(
        [
            (10.0, "vllm:num_requests_running", E0, 3),
            (10.0, "vllm:num_requests_running", E1, 2),
            (10.0, "vllm:num_requests_waiting", E0, 1),
            (10.0, "vllm:kv_cache_usage_perc", E0, 0.5),
            (10.0, "vllm:kv_cache_usage_perc", E1, 0.9),
        ]
    )
    server = detect_server(set(df["name"]))
    assert server is not None and server.name == "vLLM"
    sig = signal_frame(df, server)
    assert sig.loc[10.0, "running"] == 5 and sig.loc[10.0, "waiting"] == 1
    assert sig.loc[10.0, "kv_usage"] == pytest.approx(0.7)


def test_counters_are_increases_since_the_first_scrape_through_a_restart() -> None:
    df = _samples(
        [
            (1.0, "vllm:generation_tokens_total", E0, 1000),
            (2.0, "vllm:generation_tokens_total", E0, 1100),
            (3.0, "vllm:generation_tokens_total", E0, 30),  # the server restarted: 30 new tokens
            (4.0, "vllm:generation_tokens_total", E0, 50),
        ]
    )
    sig = signal_frame(df, SERVERS[0])
    assert list(sig["generated_tokens"]) == [0, 100, 130, 150]


def test_a_series_created_at_the_first_request_counts_from_zero() -> None:
    """TGI creates its histogram series when the first request finishes."""
    df = _samples(
        [
            (1.0, "tgi_queue_size", "", 0),
            (2.0, "tgi_queue_size", "", 2),
            (2.0, "tgi_request_generated_tokens_sum", "", 40),
            (3.0, "tgi_queue_size", "", 0),
            (3.0, "tgi_request_generated_tokens_sum", "", 100),
        ]
    )
    server = detect_server(set(df["name"]))
    assert server is not None and server.name == "TGI"
    sig = signal_frame(df, server)
    assert list(sig["generated_tokens"]) == [0, 40, 100]
    assert list(sig["waiting"]) == [0, 2, 0]
    assert "kv_usage" not in sig  # TGI exposes none: no made-up column


def test_llamacpp_prefix_hit_rate_from_cached_and_processed_prompt_counters() -> None:
    df = _samples(
        [
            (1.0, "llamacpp:prompt_tokens_total", "", 0),
            (1.0, "llamacpp:prompt_tokens_cached_total", "", 0),
            (2.0, "llamacpp:prompt_tokens_total", "", 30),
            (2.0, "llamacpp:prompt_tokens_cached_total", "", 90),
            (3.0, "llamacpp:prompt_tokens_total", "", 30),
            (3.0, "llamacpp:prompt_tokens_cached_total", "", 90),
            (1.0, "llamacpp:requests_processing", "", 0),
        ]
    )
    server = detect_server(set(df["name"]))
    assert server is not None and server.name == "llama.cpp"
    sig = signal_frame(df, server)
    assert sig.loc[2.0, "prefix_hit_rate"] == pytest.approx(0.75)
    assert math.isnan(sig.loc[3.0, "prefix_hit_rate"])  # nothing queried in that interval


def test_sglang_and_unknown_servers() -> None:
    df = _samples([(1.0, "sglang:num_queue_reqs", "", 4), (1.0, "sglang:token_usage", "", 0.97)])
    server = detect_server(set(df["name"]))
    assert server is not None and server.name == "SGLang"
    assert signal_frame(df, server).loc[1.0, "kv_usage"] == pytest.approx(0.97)
    assert detect_server({"process_cpu_seconds_total", "http_requests_total"}) is None


def test_the_saturation_sentence_names_what_the_server_showed() -> None:
    from bench.servermetrics.analysis import saturation_cause

    full = {"waiting": {"mean": 3.2, "max": 6.0}, "kv_usage": {"mean": 0.8, "max": 0.97}, "preemptions": 4.0}
    assert saturation_cause(8, "users", full) == (
        "the knee at 8 users coincides with requests waiting > 0 (mean 3.2, max 6) and KV usage 97 % "
        "and 4 preemptions"
    )
    idle = {"waiting": {"mean": 0.0, "max": 0.0}, "kv_usage": {"mean": 0.2, "max": 0.3}, "preemptions": 0.0}
    assert "the limit is elsewhere" in saturation_cause(8, "users", idle)
    assert saturation_cause(8, "users", None) == "the knee at 8 users: no server metrics for that step"


def test_live_reader_gives_the_latest_gauges_and_counter_rates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import orjson

    from bench.servermetrics.live import LiveServerMetrics

    live = LiveServerMetrics(tmp_path)
    assert live.latest() is None  # nothing scraped yet (no file)
    path = tmp_path / "server_metrics.jsonl"

    def scrape(t: float, running: float, waiting: float, tokens: float) -> bytes:
        samples = [
            ["vllm:num_requests_running", "vllm:num_requests_running", E0, running],
            ["vllm:num_requests_waiting", "vllm:num_requests_waiting", E0, waiting],
            ["vllm:generation_tokens", "vllm:generation_tokens_total", E0, tokens],
        ]
        return orjson.dumps({"t_s": t, "ok": True, "s": samples}) + b"\n"

    path.write_bytes(scrape(100.0, 2, 0, 1000))
    first = live.latest()
    assert first is not None and first["server"] == "vLLM" and first["running"] == 2
    assert first["generated_tokens_per_s"] is None  # one scrape: no rate yet
    with path.open("ab") as f:
        f.write(scrape(101.0, 8, 3, 1400))
        f.write(b'{"t_s": 102.0, "ok": false, "kind": "timeout", "err')  # still being written
    now = live.latest()
    assert now is not None and now["running"] == 8 and now["waiting"] == 3 and now["kv_usage"] is None
    assert now["generated_tokens_per_s"] == pytest.approx(400.0)
    assert now["scrapes_ok"] == 2 and now["scrapes_failed"] == 0
    with path.open("ab") as f:
        f.write(b'or": "no complete answer within 0.8 s"}\n')
    assert live.latest()["last_error"] == "no complete answer within 0.8 s"  # type: ignore[index]
