"""Each fault kind happens when asked: forced by the X-Mock-Fault header, or drawn at rate 1.0."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import orjson
import pytest

from bench.mock.server import running_in_thread
from bench.mock.settings import FAULT_KINDS
from tests.mock.conftest import FAST, body, chat, sse_events

SETTINGS = replace(
    FAST, stall_s=3.0, slow_headers_ms=300.0, retry_after_s=7, output_dist="fixed", output_tokens=20
)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_in_thread(SETTINGS) as url:
        yield url


def forced(url: str, kind: str, *, stream: bool, timeout: float = 10) -> httpx.Response:
    return chat(url, body(stream=stream), headers={"X-Mock-Fault": kind}, timeout=timeout)


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_429", 429), ("http_503", 503)])
@pytest.mark.parametrize("stream", [False, True])
def test_http_error_faults(url, kind, status, stream):
    r = forced(url, kind, stream=stream)
    assert r.status_code == status
    assert r.json()["error"]["message"].startswith("mock fault")
    if kind == "http_429":
        assert r.headers["retry-after"] == "7"


@pytest.mark.parametrize("stream", [False, True])
def test_reset_before_headers(url, stream):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        forced(url, "reset_before_headers", stream=stream)


def test_reset_mid_stream_cuts_a_stream_after_some_content(url):
    seen: list[str] = []
    with (
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)),
        httpx.stream(
            "POST",
            url + "/v1/chat/completions",
            json=body(stream=True),
            headers={"X-Mock-Fault": "reset_mid_stream"},
        ) as r,
    ):
        assert r.status_code == 200
        seen.extend(r.iter_lines())
    events = sse_events("\n".join(seen) + "\n")
    assert 1 < len(events) < 20
    assert "[DONE]" not in events


def test_reset_mid_answer_cuts_a_plain_answer(url):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        forced(url, "reset_mid_stream", stream=False)


def test_bad_json_chunk_is_one_malformed_event_in_an_otherwise_good_stream(url):
    r = forced(url, "bad_json_chunk", stream=True)
    blocks = [b for b in r.text.split("\n\n") if b.strip()]
    bad = []
    for block in blocks:
        payload = block.removeprefix("data: ")
        if payload != "[DONE]":
            try:
                orjson.loads(payload)
            except orjson.JSONDecodeError:
                bad.append(payload)
    assert len(bad) == 1
    assert blocks[-1] == "data: [DONE]"


def test_not_json_and_bad_json_plain_answers_do_not_parse(url):
    for kind in ("not_json", "bad_json_chunk"):
        r = forced(url, kind, stream=False)
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
    assert forced(url, "not_json", stream=True).headers["content-type"].startswith("text/html")


def test_no_done_ends_the_stream_cleanly_without_done(url):
    events = sse_events(forced(url, "no_done", stream=True).text)
    assert events[-1] != "[DONE]"
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_stall_outlasts_the_client_timeout(url):
    start = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        forced(url, "stall", stream=True, timeout=0.3)
    assert time.perf_counter() - start < 2.5


def test_slow_headers_delays_the_first_byte(url):
    start = time.perf_counter()
    with httpx.stream(
        "POST", url + "/v1/chat/completions", json=body(stream=True), headers={"X-Mock-Fault": "slow_headers"}
    ) as r:
        waited = time.perf_counter() - start
        assert r.status_code == 200
        r.read()
    assert 0.3 <= waited < 1.5


def test_unknown_fault_header_is_a_400_listing_the_kinds(url):
    r = forced(url, "meteor", stream=False)
    assert r.status_code == 400
    assert all(kind in r.json()["error"]["message"] for kind in FAULT_KINDS)


def test_rate_one_hits_every_request_and_rates_are_reproducible():
    with running_in_thread(replace(FAST, fault_http_503=1.0)) as url:
        assert {chat(url, body()).status_code for _ in range(5)} == {503}
        assert chat(url, body(), headers={"X-Mock-Fault": "none"}).status_code == 200

    def statuses() -> list[int]:
        with running_in_thread(replace(FAST, fault_http_500=0.3, fault_http_429=0.3, seed=7)) as url:
            return [chat(url, body()).status_code for _ in range(30)]

    first = statuses()
    assert first == statuses()
    assert {200, 429, 500} == set(first)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_at_rate_one_is_drawn_and_logged(tmp_path, kind):
    truth = tmp_path / "truth.jsonl"
    settings = replace(
        SETTINGS,
        stall_s=0.05,
        slow_headers_ms=10.0,
        trickle_ms=0.5,
        truth_log=str(truth),
        **{f"fault_{kind}": 1.0},
    )
    with running_in_thread(settings) as url, httpx.Client() as client:
        for stream in (False, True):
            try:
                with client.stream(
                    "POST", url + "/v1/chat/completions", json=body(stream=stream), timeout=5
                ) as r:
                    read = 0
                    for data in r.iter_raw():
                        read += len(data)
                        if read > 1_000_000:  # an oversized answer: enough, hang up
                            break
            except httpx.TransportError:
                pass  # the resets
    lines = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    assert [(line["fault"], line["stream"]) for line in lines] == [(kind, False), (kind, True)]


def test_close_after_request_sends_no_byte_and_http10_ends_with_the_connection(url):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        forced(url, "close_after_request", stream=False)
    r = forced(url, "http10_close", stream=True)
    assert r.http_version == "HTTP/1.0" and "content-length" not in r.headers
    assert sse_events(r.text)[-1] == "[DONE]"
    r = forced(url, "http10_close", stream=False)
    assert r.http_version == "HTTP/1.0" and r.json()["choices"][0]["message"]["content"]


def test_text_plain_stream_is_a_correct_stream_with_the_wrong_content_type(url):
    r = forced(url, "text_plain_stream", stream=True)
    assert r.headers["content-type"].startswith("text/plain")
    assert sse_events(r.text)[-1] == "[DONE]"
    assert forced(url, "text_plain_stream", stream=False).headers["content-type"] == "application/json"


def test_trickle_headers_writes_the_head_slowly():
    with running_in_thread(replace(SETTINGS, trickle_ms=5.0)) as url:
        start = time.perf_counter()
        r = forced(url, "trickle_headers", stream=True)
        took = time.perf_counter() - start
    assert r.status_code == 200 and sse_events(r.text)[-1] == "[DONE]"
    assert took > 0.5  # about 150 head bytes, 5 ms apart
