"""The client's parsing of this round's answer parts against scripted streams: a streamed tool call
is output (TTFT/TTFO stop at it), usage details give cached and reasoning tokens, running usage gives
tokens per chunk, and llama.cpp's timings.cache_n stands in when usage has no details."""

from __future__ import annotations

import json

from bench.load.client import ChatClient, ClientSettings
from tests.load.test_client import BODY, ScriptedServer


def _chunk(delta: dict[str, object] | None = None, **extra: object) -> bytes:
    obj: dict[str, object] = {"choices": [] if delta is None else [{"index": 0, "delta": delta}], **extra}
    return f"data: {json.dumps(obj)}\n\n".encode()


def _send(pieces: list[tuple[float, bytes]]):  # type: ignore[no-untyped-def]
    server = ScriptedServer(pieces)
    try:
        return ChatClient(ClientSettings(server.url)).send(BODY, stream=True)
    finally:
        server.close()


def test_a_streamed_tool_call_is_output_for_ttft_and_ttfo():
    call = {
        "tool_calls": [
            {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
        ]
    }
    more = {"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]}
    ex = _send(
        [
            (0.0, _chunk({"role": "assistant"})),
            (0.05, _chunk(call)),
            (0.01, _chunk(more) + b"data: [DONE]\n\n"),
        ]
    )
    assert ex.ok, ex.error_message
    assert ex.ttft_ms is not None and ex.ttft_ms >= 50.0 and ex.ttfo_ms == ex.ttft_ms
    assert ex.chunks == 2 and ex.reasoning_ms is None


def test_usage_details_running_usage_and_llama_timings():
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    ex = _send(
        [
            (0.0, _chunk({"reasoning_content": "hm"}, usage={"prompt_tokens": 100, "completion_tokens": 2})),
            (0.02, _chunk({"content": "a b"}, usage={"prompt_tokens": 100, "completion_tokens": 4})),
            (0.0, _chunk({"content": "c"}, usage={"prompt_tokens": 100, "completion_tokens": 5})),
            (0.0, _chunk(None, usage=usage) + b"data: [DONE]\n\n"),
        ]
    )
    assert ex.ok, ex.error_message
    assert ex.cached_tokens == 64 and ex.reasoning_tokens == 2
    assert ex.chunk_tokens is not None and list(ex.chunk_tokens) == [2, 2, 1]
    assert ex.reasoning_ms is not None and ex.reasoning_ms >= 15.0
    llama = _send(
        [
            (0.0, _chunk({"content": "x"})),
            (
                0.0,
                _chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 1}, timings={"cache_n": 7})
                + b"data: [DONE]\n\n",
            ),
        ]
    )
    assert llama.ok and llama.cached_tokens == 7 and llama.chunk_tokens is None
