"""A server that closes kept-alive connections (as llama.cpp's server does after every stream)."""

from __future__ import annotations

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
