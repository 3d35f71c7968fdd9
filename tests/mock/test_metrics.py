"""The mock's GET /metrics: vLLM's names from its real state (slots, queue, token counters)."""

from __future__ import annotations

import threading
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.mock.server import running_in_thread
from bench.mock.settings import MockSettings


def _values(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=5).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def test_running_and_waiting_follow_the_slots_and_tokens_match_the_answers() -> None:
    settings = MockSettings(port=0, batch_slots=2, tpot_ms=10, output_dist="fixed", output_tokens=100)
    with running_in_thread(settings) as url:
        assert _values(url)["vllm:num_requests_running"] == 0
        usages: list[int] = []

        def one(stream: bool) -> None:
            body = {"model": "o", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
            r = httpx.post(url + "/v1/chat/completions", json=body, timeout=30)
            if not stream:
                usages.append(r.json()["usage"]["completion_tokens"])

        threads = [threading.Thread(target=one, args=(i % 2 == 0,)) for i in range(5)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 0.8  # each answer takes about 1 s: the first two still run then
        while (busy := _values(url))["vllm:num_requests_waiting"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert busy["vllm:num_requests_running"] == 2 and busy["vllm:num_requests_waiting"] == 3
        for t in threads:
            t.join()
        done = _values(url)
    assert done["vllm:num_requests_running"] == 0 and done["vllm:num_requests_waiting"] == 0
    assert done["vllm:generation_tokens_total"] == 5 * 100
    assert done["vllm:request_success_total"] == 5 and done["vllm:num_preemptions_total"] == 0
    assert usages == [100, 100]


def test_the_prefix_cache_counters_are_the_answers_cached_tokens() -> None:
    settings = MockSettings(
        port=0, profile="openai", prefix_cache_blocks=64, prefix_block_tokens=4, tpot_ms=0, prefill_base_ms=0
    )
    system = {"role": "system", "content": "You are a careful assistant who answers in short sentences. " * 4}
    cached, prompts = [], []
    with running_in_thread(settings) as url:
        assert "vllm:prefix_cache_hits_total" in _values(url)
        for question in ("first question", "second question", "third one"):
            body = {
                "model": "o",
                "messages": [system, {"role": "user", "content": question}],
                "max_tokens": 4,
            }
            usage = httpx.post(url + "/v1/chat/completions", json=body, timeout=10).json()["usage"]
            cached.append(usage["prompt_tokens_details"]["cached_tokens"])
            prompts.append(usage["prompt_tokens"])
        values = _values(url)
    assert cached[0] == 0 and cached[1] > 0  # the shared system prompt is cached from the second on
    assert values["vllm:prefix_cache_hits_total"] == sum(cached)
    assert values["vllm:prefix_cache_queries_total"] == sum(prompts)
    with running_in_thread(MockSettings(port=0)) as url:
        assert "vllm:prefix_cache_hits_total" not in _values(url)  # no cache, no cache counters
