"""Fixtures for the mock tests: an in-thread mock on port 0 and helpers to read SSE answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest

from bench.mock.server import running_in_thread
from bench.mock.settings import MockSettings

FAST = MockSettings(port=0, prefill_base_ms=0.0, prefill_per_token_ms=0.0, tpot_ms=0.0, batch_slots=64)


@pytest.fixture(scope="module")
def fast_url() -> Iterator[str]:
    """A quick mock in the seed profile (not strict)."""
    with running_in_thread(FAST) as url:
        yield url


@pytest.fixture(scope="module")
def openai_url() -> Iterator[str]:
    """A quick, strict mock in the openai profile."""
    with running_in_thread(replace(FAST, profile="openai", strict=True)) as url:
        yield url


# One client for all tests: a new httpx.Client costs ~20 ms (its SSL context).
CLIENT = httpx.Client()


def chat(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 10
) -> httpx.Response:
    return CLIENT.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=timeout)


def sse_events(text: str) -> list[Any]:
    """The data payloads of an SSE body: parsed JSON, or the raw string (e.g. '[DONE]')."""
    events: list[Any] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        payload = block[len("data: ") :]
        events.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return events


def body(content: str = "Tell me about batching.", **extra: Any) -> dict[str, Any]:
    return {"model": "o", "messages": [{"role": "user", "content": content}], **extra}
