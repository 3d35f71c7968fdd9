"""The streaming client against the real mock: per-event reads, timing fields, every fault's error kind."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import pytest
from geventhttpclient import HTTPClient

from bench.load.client import ChatClient, ClientSettings, _body_lines
from bench.mock.process import start_mock
from bench.mock.settings import MockSettings
from tests.load.helpers import read_request

BODY = {"model": "o", "messages": [{"role": "user", "content": "hello there"}], "stream": True}


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    settings = MockSettings(
        port=0,
        prefill_base_ms=100,
        prefill_per_token_ms=0,
        tpot_ms=50,
        batch_slowdown=0,
        output_dist="fixed",
        output_tokens=6,
        stall_s=30,
        slow_headers_ms=3000,
        retry_after_s=7,
    )
    with start_mock(settings) as handle:
        yield str(handle.url)


def test_body_lines_hands_over_each_event_as_it_arrives(mock_url: str) -> None:
    """Pins the hot path: ``_body_lines`` reads what one recv brought and must not wait for a buffer
    to fill (geventhttpclient's read(n) does); the lines come without their line ends, stamped at the
    recv, and the body's end is a ``None``."""
    client = HTTPClient.from_url(mock_url, network_timeout=10)
    response = client.request("POST", "/v1/chat/completions", body=json.dumps(BODY))
    stamps, ended = [], False
    for t, lines in _body_lines(response):
        assert not ended
        for line in lines:
            if line is None:
                ended = True
                continue
            assert not line.endswith(b"\n")
            if line.startswith(b"data:") and b'"content"' in line and b'"content":""' not in line:
                stamps.append(t)
                assert t <= time.perf_counter()
    client.close()
    assert ended
    gaps_ms = [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == 6
    # 50 ms per token on the server: each event seen on its own, about 50 ms apart. A reader that waits
    # for a buffer to fill hands over several events at once: gaps near 0. (One scheduling stall of the
    # shared machine can shorten the gap after it, so one short gap is tolerated.)
    assert 30 < statistics.median(gaps_ms) < 150, gaps_ms
    assert sum(gap < 5 for gap in gaps_ms) <= 1, gaps_ms


def test_a_stream_gives_ttft_gaps_tokens_and_the_answer(mock_url: str) -> None:
    client = ChatClient(ClientSettings(mock_url))
    ex = client.send(BODY, stream=True)
    client.close()
    assert ex.ok, ex.error_message
    assert ex.status == 200 and ex.chunks == 6 and len(ex.itl_ms) == 5
    assert ex.ttft_ms is not None and 90 < ex.ttft_ms < 400  # 100 ms prefill, not the role chunk at ~0
    assert all(30 < gap < 150 for gap in ex.itl_ms)
    assert ex.e2e_ms is not None and ex.e2e_ms >= ex.ttft_ms + sum(ex.itl_ms)
    assert ex.answer and ex.output_tokens(None) == (6, "chunks")
    assert ex.output_tokens(lambda text: 99) == (99, "tokenizer")


def test_a_non_streaming_answer_has_e2e_but_no_ttft(mock_url: str) -> None:
    client = ChatClient(ClientSettings(mock_url))
    ex = client.send({**BODY, "stream": False}, stream=False)
    client.close()
    assert ex.ok and ex.ttft_ms is None and len(ex.itl_ms) == 0 and ex.e2e_ms and ex.e2e_ms > 300
    assert ex.chunks == 1 and ex.answer


@pytest.mark.parametrize(
    ("fault", "kind", "status"),
    [
        ("http_500", "http_error", 500),
        ("http_429", "http_error", 429),
        ("http_503", "http_error", 503),
        ("reset_before_headers", "connection_reset", 0),
        ("reset_mid_stream", "connection_reset", 200),
        ("bad_json_chunk", "bad_json", 200),
        ("no_done", "stream_incomplete", 200),
        ("stall", "first_byte_timeout", 0),
        ("slow_headers", "first_byte_timeout", 0),
        ("close_after_request", "connection_reset", 0),
        ("trickle_headers", "first_byte_timeout", 0),
        ("text_plain_stream", "bad_response", 200),
        ("oversized", "too_large", 200),
    ],
)
def test_each_mock_fault_becomes_its_error_kind(mock_url: str, fault: str, kind: str, status: int) -> None:
    client = ChatClient(ClientSettings(mock_url, first_byte_timeout_s=1.0, total_timeout_s=5.0))
    ex = client.send(BODY, stream=True, extra_headers={"X-Mock-Fault": fault})
    assert (ex.error_kind, ex.status) == (kind, status), ex.error_message
    assert ex.error_message and ex.e2e_ms is not None
    # the same client goes on working after the failure
    assert client.send(BODY, stream=True).ok
    client.close()


def test_a_body_that_is_not_json_is_bad_json(mock_url: str) -> None:
    client = ChatClient(ClientSettings(mock_url))
    ex = client.send({**BODY, "stream": False}, stream=False, extra_headers={"X-Mock-Fault": "not_json"})
    client.close()
    assert ex.error_kind == "bad_json"


def test_total_timeout_cuts_a_slow_stream() -> None:
    settings = MockSettings(port=0, prefill_base_ms=0, tpot_ms=200, output_dist="fixed", output_tokens=20)
    with start_mock(settings) as handle:
        client = ChatClient(ClientSettings(str(handle.url), total_timeout_s=1.0))
        ex = client.send(BODY, stream=True)
        client.close()
    assert ex.error_kind == "total_timeout" and ex.chunks > 0
    assert ex.e2e_ms is not None and 900 < ex.e2e_ms < 1500


def test_nothing_listening_is_connect_error() -> None:
    ex = ChatClient(ClientSettings("http://127.0.0.1:1")).send(BODY, stream=True)
    assert ex.error_kind == "connect_error" and "refused" in (ex.error_message or "")


def test_a_bug_in_our_own_code_is_a_client_error_not_an_exception(mock_url: str) -> None:
    client = ChatClient(ClientSettings(mock_url))
    ex = client.send(
        {"messages": {1, 2}}, stream=True
    )  # a set cannot be serialised: our bug, not the server's
    client.close()
    assert ex.error_kind == "client_error" and (ex.error_message or "").startswith("TypeError")


def test_a_stream_request_answered_with_plain_text_is_bad_response(mock_url: str) -> None:
    client = ChatClient(ClientSettings(mock_url))
    ex = client.send(BODY, stream=True, extra_headers={"X-Mock-Fault": "not_json"})
    client.close()
    assert ex.error_kind == "bad_response" and "event stream" in (ex.error_message or "")


def _chunk(text: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


class ScriptedServer:
    """Answers every request on 127.0.0.1 with one fixed SSE body, written in timed pieces."""

    def __init__(self, pieces: list[tuple[float, bytes]]) -> None:
        self.pieces = pieces
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                read_request(conn)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                )
                with contextlib.suppress(OSError):
                    for delay_s, piece in self.pieces:
                        time.sleep(delay_s)
                        conn.sendall(piece)

    def close(self) -> None:
        self.sock.close()


def test_every_sse_framing_gives_the_same_events() -> None:
    """The one-line ``data:`` fast path and the full parser (comments, ``event:``, multi-line data,
    CRLF) agree: each event counted once, at the time of its first data line."""
    body = (
        f": keep-alive\n\ndata: {_chunk('a')}\n\n"
        f"event: message\ndata: {_chunk('b')}\n\n"
        f"data: {_chunk('c')}\r\n\r\n"
        + "data: {}\ndata: {}\n\n".format(*_chunk("d").split(" ", 1))  # JSON split at a space
        + f"data: {_chunk('e')}\n: comment inside the event\n\n"
        + "data: [DONE]\n\n"
    ).encode()
    server = ScriptedServer([(0.0, body)])
    try:
        ex = ChatClient(ClientSettings(server.url)).send(BODY, stream=True)
    finally:
        server.close()
    assert ex.ok, ex.error_message
    assert ex.answer == "abcde" and ex.chunks == 5 and len(ex.itl_ms) == 4


def test_a_line_cut_between_two_reads_is_stamped_at_the_read_that_completes_it() -> None:
    """A data line split across two sends counts when its end arrives (docs/metrics.md), and every
    line that one read completes has that read's time."""
    a, b = f"data: {_chunk('a')}\n\n", f"data: {_chunk('b')}\n\n"
    half = len(a) // 2
    server = ScriptedServer(
        [(0.0, a[:half].encode()), (0.15, (a[half:] + b).encode()), (0.15, b"data: [DONE]\n\n")]
    )
    try:
        ex = ChatClient(ClientSettings(server.url)).send(BODY, stream=True)
    finally:
        server.close()
    assert ex.ok, ex.error_message
    assert ex.answer == "ab" and ex.chunks == 2
    assert ex.ttft_ms is not None and ex.ttft_ms >= 140  # not when its first half came
    assert list(ex.itl_ms) == [0.0]  # both completed by the same read
    assert ex.e2e_ms is not None and ex.e2e_ms >= ex.ttft_ms + 140


def test_headers_at_once_then_no_body_line_is_a_first_byte_timeout() -> None:
    server = ScriptedServer([(3.0, f"data: {_chunk('late')}\n\n".encode())])
    try:
        settings = ClientSettings(server.url, first_byte_timeout_s=0.5, total_timeout_s=5.0)
        ex = ChatClient(settings).send(BODY, stream=True)
    finally:
        server.close()
    assert (ex.error_kind, ex.status) == ("first_byte_timeout", 200), ex.error_message
    assert ex.e2e_ms is not None and 450 < ex.e2e_ms < 1500


@pytest.mark.parametrize(
    ("fault", "kind", "status"),
    [
        ("http_500", "http_error", 500),
        ("http_503", "http_error", 503),
        ("reset_before_headers", "connection_reset", 0),
        ("reset_mid_stream", "connection_reset", 200),
        ("close_after_request", "connection_reset", 0),
        ("no_done", "connection_reset", 200),  # a plain body cut short by a clean close
        ("bad_json_chunk", "bad_json", 200),
        ("not_json", "bad_json", 200),
        ("stall", "first_byte_timeout", 0),
        ("slow_headers", "first_byte_timeout", 0),
        ("trickle_headers", "first_byte_timeout", 0),
        ("oversized", "too_large", 200),
    ],
)
def test_each_mock_fault_on_a_plain_answer_becomes_its_error_kind(
    mock_url: str, fault: str, kind: str, status: int
) -> None:
    client = ChatClient(ClientSettings(mock_url, first_byte_timeout_s=1.0, total_timeout_s=5.0))
    body = {**BODY, "stream": False}
    ex = client.send(body, stream=False, extra_headers={"X-Mock-Fault": fault})
    assert (ex.error_kind, ex.status) == (kind, status), ex.error_message
    assert ex.e2e_ms is not None
    assert client.send(body, stream=False).ok
    client.close()


@pytest.mark.parametrize("stream", [True, False])
def test_faults_a_client_must_accept(mock_url: str, stream: bool) -> None:
    """A close-delimited HTTP/1.0 body is valid HTTP; text/plain on a plain answer changes nothing."""
    client = ChatClient(ClientSettings(mock_url))
    for fault in ("http10_close", "text_plain_stream"):
        ex = client.send({**BODY, "stream": stream}, stream=stream, extra_headers={"X-Mock-Fault": fault})
        if fault == "text_plain_stream" and stream:
            continue
        assert ex.ok, (fault, ex.error_kind, ex.error_message)
        assert ex.answer and ex.chunks == (6 if stream else 1)
    client.close()


def test_a_429_keeps_its_retry_after(mock_url: str) -> None:
    client = ChatClient(ClientSettings(mock_url))
    ex = client.send(BODY, stream=True, extra_headers={"X-Mock-Fault": "http_429"})
    client.close()
    assert (ex.error_kind, ex.status, ex.retry_after_s) == ("http_error", 429, 7.0)


def test_an_oversized_answer_is_cut_at_the_memory_bound(mock_url: str) -> None:
    client = ChatClient(ClientSettings(mock_url, max_answer_bytes=1_000_000))
    for stream in (True, False):
        ex = client.send(
            {**BODY, "stream": stream}, stream=stream, extra_headers={"X-Mock-Fault": "oversized"}
        )
        assert ex.error_kind == "too_large" and "1000000-byte bound" in (ex.error_message or "")
        assert len(ex.answer) < 1_000_000
    client.close()


def test_close_after_request_on_a_kept_alive_connection_is_resent_once_then_failed(mock_url: str) -> None:
    client = ChatClient(ClientSettings(mock_url))
    assert client.send(BODY, stream=True).ok  # leaves a kept-alive connection in the pool
    ex = client.send(BODY, stream=True, extra_headers={"X-Mock-Fault": "close_after_request"})
    client.close()
    # The first attempt met a closed kept-alive connection: resent, on a new connection, where the
    # same fault closed it again: that is the server failing, recorded, never resent again.
    assert ex.error_kind == "connection_reset" and ex.attempts == 2 and ex.resend_kind == "connection_reset"
    assert ex.connect_ms is not None


def test_request_ids_are_32_hex_digits_and_unique_across_a_fork() -> None:
    """Ids are a per-process random prefix and a counter; a forked worker draws its own prefix."""
    import os

    from bench.load.client import new_request_id

    mine = [new_request_id() for _ in range(1000)]
    assert len(set(mine)) == 1000 and all(len(i) == 32 and int(i, 16) >= 0 for i in mine)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids and leave at once
        os.write(write, " ".join(new_request_id() for _ in range(1000)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        theirs = f.read().decode().split()
    os.waitpid(pid, 0)
    assert len(theirs) == 1000 and not set(theirs) & set(mine) and theirs[0][:16] != mine[0][:16]
