"""Workloads real traffic has, against the mock: shared prefixes and the mock's prefix cache
(cached_tokens, lower TTFT on hits), reasoning (reasoning tokens and duration), per-chunk token
counts (continuous usage), tool turns, and client cancellation (client_cancelled, the mock logs the
disconnect)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import yaml

from bench.instrument.truth import read_records
from bench.load.runner import run_load


def _scenario(
    tmp_path: Path, *, mock: dict[str, Any], load: dict[str, Any], prompt_set: dict[str, Any], **target: Any
) -> Path:
    data = {
        "name": "workload",
        "seed": 4,
        "target": {
            "profile": "openai",
            "timeouts": {"connect_s": 5, "first_byte_s": 10, "total_s": 20},
            **target,
        },
        "mock": {
            "profile": "openai",
            "batch_slots": 64,
            "prefill_base_ms": 10,
            "prefill_per_token_ms": 0.2,
            "tpot_ms": 5,
            "batch_slowdown": 0,
            "output_dist": "fixed",
            "output_tokens": 12,
            **mock,
        },
        "prompt_sets": [{"name": "p", **prompt_set}],
        "sampling": {"temperature": 0.0, "stream": True},
        "load": load,
    }
    path = tmp_path / "workload.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


def _run(path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    outcome = run_load(path, results_dir=tmp_path / "results", progress=False)
    return outcome, read_records(outcome.run_dir)


SHARED = {"shared_prefix": {"groups": 2, "prefix_tokens": 1500, "suffix_tokens": 40, "prompts_per_group": 6}}


def test_shared_prefix_hits_the_mock_prefix_cache_and_hits_have_lower_ttft(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path, mock={"prefix_cache_blocks": 4096}, load={"users": 2, "duration_s": 3}, prompt_set=SHARED
    )
    _, records = _run(path, tmp_path)
    assert records and all(r.ok for r in records)
    hits = [r for r in records if r.cached_tokens]
    misses = [r for r in records if r.cached_tokens == 0]
    # The first request of each group misses (the pre-load probe may already have warmed group 0).
    assert len(hits) > len(misses) >= 1
    assert all(r.cached_tokens is not None and r.cached_tokens >= 1500 // 16 * 16 for r in hits)
    # Prefill skips the cached tokens: 10 + 0.2 * ~1540 = ~318 ms cold, ~10 + 0.2 * 40 = ~18 ms warm.
    cold = statistics.median(r.ttft_ms for r in misses)  # type: ignore[misc]
    warm = statistics.median(r.ttft_ms for r in hits)  # type: ignore[misc]
    assert cold > 250 and warm < 80, (cold, warm)


def test_without_a_prefix_cache_the_mock_reports_no_cached_tokens(tmp_path: Path) -> None:
    path = _scenario(tmp_path, mock={}, load={"users": 1, "duration_s": 1.5}, prompt_set=SHARED)
    _, records = _run(path, tmp_path)
    assert records and all(r.cached_tokens is None for r in records)


def test_reasoning_answers_record_reasoning_tokens_and_duration(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        mock={"reasoning_share": 1.0, "reasoning_tokens": 20},
        load={"users": 2, "duration_s": 2},
        prompt_set={"inline": ["Think first, then answer."]},
    )
    _, records = _run(path, tmp_path)
    assert records and all(r.ok for r in records)
    for r in records:
        assert r.reasoning_tokens == 20
        assert r.output_tokens == 32  # completion_tokens counts the reasoning too
        assert r.ttft_ms is not None and r.ttfo_ms is not None and r.reasoning_ms is not None
        # 20 reasoning tokens at 5 ms: the first answer token comes ~100 ms after the first thought.
        assert 80 < r.reasoning_ms < 300, r.reasoning_ms  # upper bound loose: a busy machine adds delay
        assert abs(r.ttfo_ms - r.ttft_ms - r.reasoning_ms) < 0.01


def test_continuous_usage_gives_tokens_per_chunk(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        mock={"tokens_per_chunk": 3, "output_tokens": 10},
        load={"users": 1, "duration_s": 1.5},
        prompt_set={"inline": ["Count for me."]},
        options={"continuous_usage_stats": True},
    )
    _, records = _run(path, tmp_path)
    assert records
    for r in records:
        assert r.chunk_tokens is not None and list(r.chunk_tokens) == [3, 3, 3, 1]
        assert r.chunks == 4 and sum(r.chunk_tokens) == r.output_tokens


def test_cancelled_requests_are_client_cancelled_and_the_mock_logs_the_disconnect(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        mock={"output_tokens": 40, "truth_log": None},
        load={"users": 2, "duration_s": 3, "cancel": {"share": 0.5, "after_tokens": 4}},
        prompt_set={"inline": ["Tell me a long story.", "And another one."]},
    )
    outcome, records = _run(path, tmp_path)
    cancelled = [r for r in records if r.error_kind == "client_cancelled"]
    done = [r for r in records if r.ok]
    assert cancelled and done and len(cancelled) + len(done) == len(records)
    assert all(r.chunks == 4 and r.e2e_ms is not None and r.e2e_ms < 200 for r in cancelled)
    truth = [json.loads(line) for line in (outcome.run_dir / "mock" / "truth.jsonl").read_text().splitlines()]
    ended = {t["request_id"]: t["ended"] for t in truth}
    assert all(ended[r.request_id] == "client_closed" for r in cancelled)
    assert all(ended[r.request_id] == "complete" for r in done)


def test_cancel_after_a_delay(tmp_path: Path) -> None:
    path = _scenario(
        tmp_path,
        mock={"output_tokens": 40},
        load={"users": 1, "duration_s": 2, "cancel": {"share": 1.0, "after_s": 0.1}},
        prompt_set={"inline": ["Tell me a long story."]},
    )
    _, records = _run(path, tmp_path)
    assert records and all(r.error_kind == "client_cancelled" for r in records)
    assert all(r.e2e_ms is not None and 100 <= r.e2e_ms < 140 for r in records), [r.e2e_ms for r in records]


def test_tool_turns_are_sent_and_seed_requests_with_tools_do_not_stream(tmp_path: Path) -> None:
    conversation = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp_c": 18}'},
    ]
    for profile in ("seed", "openai"):
        path = _scenario(
            tmp_path,
            mock={"profile": profile, "strict": True},
            load={"users": 1, "duration_s": 1.5},
            prompt_set={"inline": [conversation]},
            profile=profile,
        )
        data = yaml.safe_load(path.read_text())
        data["sampling"] = {"temperature": 0.0, "stream": True}
        path.write_text(yaml.safe_dump(data))
        _, records = _run(path, tmp_path)
        assert records and all(r.ok for r in records), [r.error_message for r in records]
        assert all(r.stream is (profile == "openai") for r in records)
