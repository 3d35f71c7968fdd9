"""A server that closes kept-alive connections (as llama.cpp's server does after every stream)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import orjson
import pytest

from bench.load.client import ChatClient, ClientSettings
from tests.load.helpers import read_request

ANSWER = orjson.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
    }
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nKeep-Alive: timeout=5, max=100\r\n"
    + b"Content-Length: "
    + str(len(ANSWER)).encode()
    + b"\r\n\r\n"
    + ANSWER
)


class ClosingServer:
    """Answers one request per connection, then closes it without saying ``Connection: close``."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests_seen = 0
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                read_request(conn)
                self.requests_seen += 1
                conn.sendall(RESPONSE)
                conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[ClosingServer]:
    srv = ClosingServer()
    yield srv
    srv.close()


def test_a_closed_keepalive_connection_is_not_a_server_error(server: ClosingServer, monkeypatch) -> None:
    client = ChatClient(ClientSettings(f"http://127.0.0.1:{server.port}"))
    # Make the pool hand out the closed connection, as happens when the server's FIN arrives just after
    # the pool's own liveness check: the request then meets an end of file before any response byte.
    monkeypatch.setattr(client._http._connection_pool, "_is_socket_alive", lambda sock: True)
    body = {"model": "o", "messages": [{"role": "user", "content": "hello"}], "stream": False}
    first = client.send(body, stream=False)
    time.sleep(0.05)  # the server has closed the connection by now
    second = client.send(body, stream=False)
    client.close()
    assert first.ok and second.ok, (
        first.error_kind,
        first.error_message,
        second.error_kind,
        second.error_message,
    )
    assert server.requests_seen == 2  # sent again on a new connection, never twice to the application
    assert server.connections == 2


def test_a_resend_is_marked_in_the_exchange(server: ClosingServer, monkeypatch) -> None:
    client = ChatClient(ClientSettings(f"http://127.0.0.1:{server.port}"))
    monkeypatch.setattr(client._http._connection_pool, "_is_socket_alive", lambda sock: True)
    body = {"model": "o", "messages": [{"role": "user", "content": "hello"}], "stream": False}
    first = client.send(body, stream=False)
    time.sleep(0.05)
    second = client.send(body, stream=False)
    client.close()
    assert (first.attempts, first.resend_kind, first.resend_at_ms) == (1, None, None)
    assert first.connect_ms is not None and first.connect_ms >= 0  # a new connection, timed apart
    assert second.ok and second.attempts == 2 and second.resend_kind == "connection_reset"
    assert second.resend_at_ms is not None and 0 <= second.resend_at_ms < 1000
    assert second.connect_ms is not None  # the resend went out on a new connection


def test_with_resends_off_the_closed_keepalive_connection_is_a_failed_request(
    server: ClosingServer, monkeypatch
) -> None:
    client = ChatClient(ClientSettings(f"http://127.0.0.1:{server.port}", resend=False))
    monkeypatch.setattr(client._http._connection_pool, "_is_socket_alive", lambda sock: True)
    body = {"model": "o", "messages": [{"role": "user", "content": "hello"}], "stream": False}
    assert client.send(body, stream=False).ok
    time.sleep(0.05)
    second = client.send(body, stream=False)
    client.close()
    assert second.error_kind == "connection_reset" and second.attempts == 1
    assert "resends are off" in (second.error_message or "")
    assert server.requests_seen == 1  # it never reached the server, and was not sent again


class DroppingServer:
    """Reads each request, then closes the connection without a byte of answer (on every connection)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests_seen = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                read_request(conn)
                self.requests_seen += 1
                conn.shutdown(socket.SHUT_WR)


def test_a_new_connection_closed_after_the_request_is_never_resent() -> None:
    server = DroppingServer()
    client = ChatClient(ClientSettings(server.url))
    body = {"model": "o", "messages": [{"role": "user", "content": "hello"}], "stream": True}
    ex = client.send(body, stream=True)
    client.close()
    server.sock.close()
    assert ex.error_kind == "connection_reset" and ex.attempts == 1 and ex.resend_kind is None
    assert "new connection: not resent" in (ex.error_message or "")
    assert server.requests_seen == 1


class LateAcceptServer:
    """A listen queue kept full, so the kernel drops the client's SYN: its connect takes one SYN
    retransmission (about 1 s); once connected, every request is answered at once (keep-alive)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self.fillers.append(filler)
        time.sleep(0.1)

    def serve_later(self, delay_s: float) -> None:
        def run() -> None:
            time.sleep(delay_s)
            self.sock.settimeout(10)
            while True:
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

        threading.Thread(target=run, daemon=True).start()

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            with contextlib.suppress(OSError, IndexError):
                while True:
                    read_request(conn)
                    conn.sendall(RESPONSE)

    def close(self) -> None:
        self.sock.close()
        for filler in self.fillers:
            filler.close()


def test_the_clock_starts_when_the_request_is_written_and_the_connect_is_timed_apart() -> None:
    """TTFT/E2E start when the request bytes are written; a slow connect is ``connect_ms`` alone."""
    server = LateAcceptServer()
    server.serve_later(0.3)
    client = ChatClient(ClientSettings(f"http://127.0.0.1:{server.port}"))
    body = {"model": "o", "messages": [{"role": "user", "content": "hello"}], "stream": False}
    t0 = time.perf_counter()
    first = client.send(body, stream=False)
    wall_ms = (time.perf_counter() - t0) * 1000
    second = client.send(body, stream=False)
    client.close()
    server.close()
    assert first.ok and second.ok, (first.error_message, second.error_message)
    assert first.connect_ms is not None and first.connect_ms > 500  # one SYN retransmission
    assert first.e2e_ms is not None and first.e2e_ms < 200  # the answer came at once after the write
    assert first.connect_ms + first.e2e_ms <= wall_ms + 1  # what vLLM and AIPerf would call E2E
    assert second.connect_ms is None  # the kept-alive connection
