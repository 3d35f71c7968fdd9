"""The mock speaks the seed API and the OpenAI shapes: answers, streams, usage, validation errors."""

from __future__ import annotations

import httpx
import pytest

from bench.tokens import count_tokens
from tests.mock.conftest import body, chat, sse_events


def test_non_streaming_answer_has_the_openai_shape_and_exact_usage(fast_url):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello, world! How are you?"},
    ]
    r = chat(fast_url, {"model": "o", "messages": messages, "temperature": 0, "stream": False})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "o"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    text = choice["message"]["content"]
    usage = data["usage"]
    assert usage["prompt_tokens"] == count_tokens("You are terse.") + count_tokens(
        "Hello, world! How are you?"
    )
    assert usage["completion_tokens"] == count_tokens(text) > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_is_role_chunk_content_chunks_finish_chunk_then_done(fast_url):
    r = chat(fast_url, body(stream=True, temperature=0.7))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"][0]["delta"] == {}
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert len(content) == count_tokens("".join(content))  # one token per chunk by default
    assert len({c["id"] for c in chunks}) == 1


def test_openai_profile_sends_a_usage_chunk_when_asked(openai_url):
    r = chat(openai_url, body(stream=True, stream_options={"include_usage": True}, max_tokens=5))
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == []
    content = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-2])
    assert usage_chunk["usage"]["completion_tokens"] == count_tokens(content) == 5
    assert usage_chunk["usage"]["prompt_tokens"] == count_tokens("Tell me about batching.")
    assert events[-3]["choices"][0]["finish_reason"] == "length"  # max_tokens cut it short


def test_seed_profile_answers_without_usage_chunk(fast_url):
    events = sse_events(chat(fast_url, body(stream=True)).text)
    assert all(e == "[DONE]" or e["choices"] for e in events)


def test_max_completion_tokens_caps_a_plain_answer(openai_url):
    data = chat(openai_url, body(max_completion_tokens=3)).json()
    assert data["usage"]["completion_tokens"] == 3
    assert data["choices"][0]["finish_reason"] == "length"


def test_strict_seed_profile_rejects_an_unknown_key_naming_it():
    from dataclasses import replace

    from bench.mock.server import running_in_thread
    from tests.mock.conftest import FAST

    with running_in_thread(replace(FAST, strict=True)) as url:
        r = chat(url, body(max_tokens=10))
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["param"] == "max_tokens"
        assert "max_tokens" in error["message"]
        assert (
            chat(url, body(temperature=0.5, top_p=0.9, presence_penalty=0, frequency_penalty=0)).status_code
            == 200
        )


def test_lenient_seed_profile_ignores_unknown_keys(fast_url):
    data = chat(fast_url, body(max_tokens=2, temperature=0)).json()
    assert data["usage"]["completion_tokens"] > 2  # not honoured outside the openai profile


@pytest.mark.parametrize(
    ("extra", "param", "words"),
    [
        ({"temperature": 2.5}, "temperature", "between 0 and 2"),
        ({"top_p": -0.1}, "top_p", "between 0 and 1"),
        ({"presence_penalty": 3}, "presence_penalty", "between -2 and 2"),
        ({"frequency_penalty": "high"}, "frequency_penalty", "must be a number"),
        ({"stream": "yes"}, "stream", "true or false"),
        ({"messages": []}, "messages", "non-empty"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "system, user, assistant"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "must be a string"),
    ],
)
def test_bad_values_get_400_saying_which_and_why(fast_url, extra, param, words):
    r = chat(fast_url, {**body(), **extra})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == param
    assert words in error["message"]


def test_openai_profile_validates_its_extra_keys(openai_url):
    assert chat(openai_url, body(max_tokens=0)).json()["error"]["param"] == "max_tokens"
    assert (
        chat(openai_url, body(stream_options={"include_usage": True})).json()["error"]["param"]
        == "stream_options"
    )
    for key in ("include_usage", "continuous_usage_stats"):
        error = chat(openai_url, body(stream=True, stream_options={key: "yes"})).json()["error"]
        assert error["param"] == f"stream_options.{key}"
        assert error["message"] == f"'stream_options.{key}' must be true or false, not \"yes\""
    assert chat(openai_url, body(stop=5)).json()["error"]["param"] == "stop"
    r = chat(openai_url, body(logit_bias={}))
    assert r.status_code == 400 and r.json()["error"]["param"] == "logit_bias"


def test_malformed_json_and_unknown_model_and_routes(fast_url):
    r = httpx.post(fast_url + "/v1/chat/completions", content=b'{"model": "o", "messages": [', timeout=5)
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]["message"]
    r = chat(fast_url, {**body(), "model": "gpt-9"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert httpx.get(fast_url + "/health").status_code == 200
    models = httpx.get(fast_url + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["o"]
    assert httpx.get(fast_url + "/nope").status_code == 404
    assert httpx.get(fast_url + "/v1/chat/completions").status_code == 405


def test_temperature_zero_is_deterministic_and_sampling_values_change_the_text(fast_url):
    def text(**sampling):
        return chat(fast_url, body(**sampling)).json()["choices"][0]["message"]["content"]

    assert text(temperature=0) == text(temperature=0)
    assert text(temperature=0, top_p=0.5) != text(temperature=0, top_p=1.0)
    assert text(temperature=0, presence_penalty=1.0) != text(temperature=0)
    assert text(temperature=1.0) != text(temperature=1.0)  # sampling at temperature > 0 varies


def test_a_chinese_prompt_gets_a_chinese_answer(fast_url):
    data = chat(fast_url, body("请介绍一下傅利叶公司", temperature=0)).json()
    text = data["choices"][0]["message"]["content"]
    assert data["usage"]["prompt_tokens"] == 10
    assert all("\u4e00" <= ch <= "\u9fff" or ch in "，。、！" for ch in text)
    assert data["usage"]["completion_tokens"] == len(text) == count_tokens(text)


def test_keep_alive_serves_many_requests_on_one_connection(fast_url):
    with httpx.Client(base_url=fast_url) as client:
        for i in range(20):
            r = client.post("/v1/chat/completions", json=body(stream=bool(i % 2)))
            assert r.status_code == 200
        assert client.get("/health").status_code == 200


def test_tokens_per_chunk_puts_several_tokens_in_each_chunk():
    from dataclasses import replace

    from bench.mock.server import running_in_thread
    from tests.mock.conftest import FAST

    settings = replace(FAST, tokens_per_chunk=3, output_dist="fixed", output_tokens=10, profile="openai")
    with running_in_thread(settings) as url:
        events = sse_events(chat(url, body(stream=True, stream_options={"include_usage": True})).text)
    content = [e["choices"][0]["delta"]["content"] for e in events[1:-3]]
    assert [count_tokens(c) for c in content] == [3, 3, 3, 1]
    assert events[-2]["usage"]["completion_tokens"] == 10


def test_pipelined_requests_wait_for_a_slow_answer_and_are_answered_in_order():
    import socket
    from dataclasses import replace

    from bench.mock.server import running_in_thread
    from tests.mock.conftest import FAST

    payload = b'{"messages":[{"role":"user","content":"hi"}],"temperature":0}'
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(payload), payload)
    )
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    n = 3000  # all queued behind the first answer, then answered at once
    with running_in_thread(replace(FAST, prefill_base_ms=50.0)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(request + health * n)
            received = b""
            while received.count(b'{"status":"ok"}') < n:
                data = sock.recv(1 << 20)
                assert data, "the mock closed the connection"
                received += data
    assert received.count(b"HTTP/1.1 200 OK") == n + 1
    assert received.index(b'"chat.completion"') < received.index(b'{"status":"ok"}')


def test_a_plain_answer_is_the_same_with_or_without_the_truth_log(tmp_path):
    # Without a truth log a zero-delay plain answer is written at once; with one it walks the
    # scheduling steps. The client must not be able to tell which.
    from dataclasses import replace

    from bench.mock.server import running_in_thread
    from tests.mock.conftest import FAST

    def answers(settings):
        with running_in_thread(settings) as url:
            out = []
            for extra in ({"temperature": 0}, {"temperature": 0.9, "top_p": 0.5}):
                got = chat(url, body("说说批处理，好吗?", **extra)).json()
                del got["id"], got["created"]
                out.append(got)
            return out

    plain = answers(FAST)
    logged = answers(replace(FAST, truth_log=str(tmp_path / "truth.jsonl")))
    assert plain == logged
    assert plain[0]["usage"]["completion_tokens"] == count_tokens(
        plain[0]["choices"][0]["message"]["content"]
    )
    assert plain[0]["choices"][0]["message"]["content"] != plain[1]["choices"][0]["message"]["content"]
    assert (tmp_path / "truth.jsonl").read_text().count("\n") == 2


def test_prompt_tokens_stay_exact_for_repeated_and_new_texts(fast_url, monkeypatch):
    # The mock keeps each message text's count in a bounded table; a tiny bound makes it start again
    # empty between requests, and the counts must not change when it does.
    from bench.mock import api

    monkeypatch.setattr(api, "_TEXT_FACTS_MAX_CHARS", 60)
    texts = ["Tell me about batching, please.", "请介绍一下傅利叶公司", "x" * 100 + " y, z!"]
    for _ in range(2):
        for i, text in enumerate(texts):
            messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
            got = chat(fast_url, {"model": "o", "messages": messages, "temperature": 0.5}).json()
            assert got["usage"]["prompt_tokens"] == count_tokens("Be brief.") + count_tokens(text)
            content = got["choices"][0]["message"]["content"]
            assert any("\u4e00" <= c <= "\u9fff" for c in content) == (
                i == 1
            )  # a Chinese prompt, a Chinese answer


def test_content_part_arrays_are_read_as_their_text(fast_url):
    """OpenAI clients (GuideLLM among them) send ``content`` as an array of text parts."""
    parts = [{"type": "text", "text": "Hello, world!"}, {"type": "text", "text": "How are you?"}]
    as_parts = chat(fast_url, {"model": "o", "messages": [{"role": "user", "content": parts}]})
    as_text = chat(
        fast_url, {"model": "o", "messages": [{"role": "user", "content": "Hello, world!\nHow are you?"}]}
    )
    assert as_parts.status_code == 200, as_parts.text
    assert as_parts.json()["usage"]["prompt_tokens"] == as_text.json()["usage"]["prompt_tokens"]
    stream = chat(fast_url, {"model": "o", "stream": True, "messages": [{"role": "user", "content": parts}]})
    assert stream.status_code == 200 and sse_events(stream.text)[-1] == "[DONE]"
    chinese = chat(
        fast_url,
        {
            "model": "o",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "请介绍一下你自己"}]}],
        },
    )
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese.json()["choices"][0]["message"]["content"])


@pytest.mark.parametrize(
    ("content", "param", "words"),
    [
        (
            [{"type": "image_url", "image_url": {"url": "x"}}],
            "messages[0].content[0].type",
            "only 'text' parts",
        ),
        (
            [{"type": "text", "text": "a"}, {"type": "input_audio"}],
            "messages[0].content[1].type",
            "not supported",
        ),
        ([{"type": "text", "text": 5}], "messages[0].content[0].text", "must be a string"),
        (["hello"], "messages[0].content[0]", "must be an object"),
        ([], "messages[0].content", "must not be an empty array"),
    ],
)
def test_other_content_parts_get_a_clear_400(fast_url, content, param, words):
    r = chat(fast_url, {"model": "o", "messages": [{"role": "user", "content": content}]})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == param and words in error["message"], error
