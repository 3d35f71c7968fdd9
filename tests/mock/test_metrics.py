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
    settings = MockSettings(port=0, batch_slots=2, tpot_ms=10, output_dist="fixed", output_tokens=30)
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
        time.sleep(0.15)
        busy = _values(url)
        assert busy["vllm:num_requests_running"] == 2 and busy["vllm:num_requests_waiting"] == 3
        for t in threads:
            t.join()
        done = _values(url)
    assert done["vllm:num_requests_running"] == 0 and done["vllm:num_requests_waiting"] == 0
    assert done["vllm:generation_tokens_total"] == 5 * 30
    assert done["vllm:request_success_total"] == 5 and done["vllm:num_preemptions_total"] == 0
    assert usages == [30, 30]
