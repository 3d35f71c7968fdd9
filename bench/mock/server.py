"""The mock's HTTP server: uvloop ``asyncio.Protocol`` + ``httptools``, callbacks instead of tasks.

Measured here, this stack serves several times what aiohttp or starlette do on one core, so the mock
is not what limits a benchmark (``benchmarks/mock_capacity.py``). HTTP/1.1 keep-alive; a JSON answer
carries Content-Length, a stream uses chunked transfer encoding. Requests on one connection are
answered in order.

A chat request's life: parsed and validated (400 at once if bad) -> fault drawn (some answer at once,
``stall``/``slow_headers`` wait first) -> stream headers sent -> FIFO queue -> slot (role chunk) ->
prefill -> one content chunk per ``tokens_per_chunk`` tokens on an absolute timeline
(``next_t += tokens * token_s``, so timer lateness never accumulates) -> finish, usage, ``[DONE]``.
With ``--truth-log`` each request's real times (``time.monotonic``) go to a JSON-lines file.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import math
import random
import signal
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import httptools
import orjson

from bench.errors import MockError
from bench.lifeline import watch_asyncio
from bench.mock import api
from bench.mock.api import ApiError, ChatRequest, ChunkWriter
from bench.mock.cache import PrefixCache
from bench.mock.metrics import MockMetrics
from bench.mock.model import Answer, Engine, Planner
from bench.mock.settings import FAULT_KINDS, PROBE_REQUEST_ID, MockSettings

__all__ = ["MockServer", "new_event_loop", "running_in_thread", "serve"]

LISTENING = "chatbench mock listening on"
# A timer may fire up to a millisecond early (libuv's cached clock); closer than this counts as on time.
_EARLY_S = 0.0003
_MIN_WAIT_S = 0.001
_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
)


_PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"
_OK_JSON = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
_HTTP10_SSE_HEAD = b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
_HTTP10_JSON_HEAD = b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n"
_OVERSIZED_BYTES = 1 << 30  # an 'oversized' answer stops by itself after 1 GiB (the client cuts at 32 MiB)
_WRITE_BUFFER_BYTES = 1 << 20  # ... and is written only while the transport holds less than this


def _unframe(data: bytes) -> bytes:
    """The payload of complete HTTP/1.1 chunks (for an HTTP/1.0 answer, which has no chunked framing)."""
    out = []
    i = 0
    while i < len(data):
        end = data.index(b"\r\n", i)
        size = int(data[i:end], 16)
        out.append(data[end + 2 : end + 2 + size])
        i = end + 2 + size + 2
    return b"".join(out)


def _head(status: int, content_type: bytes, length: int, *, close: bool = False, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d %b\r\ncontent-type: %b\r\ncontent-length: %d\r\n%b%b\r\n" % (
        status,
        _REASONS.get(status, b"Error"),
        content_type,
        length,
        extra,
        b"connection: close\r\n" if close else b"",
    )


class TruthLog:
    """One JSON line per finished chat request, flushed every 0.1 s and on close."""

    def __init__(self, path: str) -> None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise MockError(f"cannot write the truth log {path}: {exc.strerror or exc}") from None
        self._dirty = False

    def write(self, line: dict[str, Any]) -> None:
        self._file.write(orjson.dumps(line) + b"\n")
        self._dirty = True

    def flush(self) -> None:
        if self._dirty:
            self._file.flush()
            self._dirty = False

    def close(self) -> None:
        self._file.close()


class Scheduler:
    """One timer for every stream: a heap of (due time, callback) and a loop timer for the earliest.

    Thousands of paced streams would otherwise each arm a loop timer per chunk; here one wake-up
    serves every chunk that is due, which roughly halves the mock's CPU per paced chunk.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._armed_at = math.inf
        self._firing = False

    def at(self, due: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` at ``due`` (time.monotonic seconds), at most ``_EARLY_S`` early."""
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, callback))
        if due < self._armed_at and not self._firing:
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = due
        # libuv timers have 1 ms resolution and a shorter delay becomes "run now": waiting at least
        # 1 ms costs up to 0.7 ms of lateness but never spins the loop until the chunk is due.
        self._handle = asyncio.get_running_loop().call_later(
            max(_MIN_WAIT_S, due - time.monotonic()), self._fire
        )

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = math.inf
        self._firing = True
        heap = self._heap
        try:
            while heap and heap[0][0] - time.monotonic() <= _EARLY_S:
                callback = heapq.heappop(heap)[2]
                try:
                    callback()
                except Exception as exc:  # a bug in one exchange must not stop every other stream
                    asyncio.get_running_loop().call_exception_handler(
                        {"message": "mock: scheduled callback failed", "exception": exc}
                    )
        finally:
            self._firing = False
        if heap:
            self._arm(heap[0][0])

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._heap.clear()


class MockServer:
    """The mock on one event loop: ``await start()``, then ``close()``."""

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        self.engine = Engine(settings)
        self.metrics = MockMetrics(settings.model, prefix_cache=bool(settings.prefix_cache_blocks))
        self.scheduler = Scheduler()
        self.planner = Planner(settings)
        self.prefix_cache = (
            PrefixCache(settings.prefix_cache_blocks, settings.prefix_block_tokens)
            if settings.prefix_cache_blocks
            else None
        )
        self.fault_rates = list(settings.fault_rates().items())
        self.fault_rng = random.Random(settings.seed)
        self.truth = TruthLog(settings.truth_log) if settings.truth_log else None
        # No prefill, no decode time, no random faults and no truth log: a plain answer with a free
        # slot is written at once, without an Exchange walking the scheduling steps (the capacity
        # case; see Connection._handle). The truth log records those steps' times, so it keeps them.
        self.instant = (
            self.truth is None
            and self.prefix_cache is None
            and settings.reasoning_share == 0
            and not self.fault_rates
            and settings.prefill_base_ms == 0.0
            and settings.prefill_per_token_ms == 0.0
            and settings.tpot_ms == 0.0
        )
        self.connections: set[Connection] = set()
        self.request_counter = 0
        self.models_body = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {
                        "id": settings.model,
                        "object": "model",
                        "created": int(time.time()),
                        "owned_by": "chatbench",
                    }
                ],
            }
        )
        self._server: asyncio.AbstractServer | None = None
        self._flusher: asyncio.TimerHandle | None = None

    async def start(self) -> tuple[str, int]:
        """Listen; returns the (host, port) actually bound."""
        loop = asyncio.get_running_loop()
        s = self.settings
        try:
            self._server = await loop.create_server(lambda: Connection(self), s.host, s.port, backlog=4096)
        except OSError as exc:
            raise MockError(f"cannot listen on {s.host}:{s.port}: {exc.strerror or exc}") from None
        if self.truth is not None:
            self._flusher = loop.call_later(0.1, self._flush)
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def _flush(self) -> None:
        assert self.truth is not None
        self.truth.flush()
        self._flusher = asyncio.get_running_loop().call_later(0.1, self._flush)

    def draw_fault(self, forced: str | None) -> str | None:
        if forced is not None:
            return None if forced == "none" else forced
        if not self.fault_rates:
            return None
        r = self.fault_rng.random()
        for kind, rate in self.fault_rates:
            if r < rate:
                return kind
            r -= rate
        return None

    async def close(self) -> None:
        """Stop listening, end every open exchange (logged as ``server_stopped``), flush the log."""
        for conn in list(self.connections):
            conn.shutdown()
        if self._server is not None:
            self._server.close()
        if self._server is not None:
            await self._server.wait_closed()
        self.scheduler.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
        if self.truth is not None:
            self.truth.flush()
            self.truth.close()


class Connection(asyncio.Protocol):
    """One client connection: parses requests and answers them one at a time."""

    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.request_id: str | None = None
        self.forced_fault: str | None = None
        self.pending: deque[tuple[bytes, bytes, bytes, str | None, str | None, bool, float]] = deque()
        self.busy = False
        self.draining = False
        self.closing = False
        self.keep_alive = True
        self.exchange: Exchange | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they have the same methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._refuse(400, f"malformed HTTP request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connections.discard(self)
        if self.exchange is not None:
            self.exchange.abandon("client_closed")
        self.pending.clear()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []
        self.request_id = None
        self.forced_fault = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) != 12 and len(name) != 6:  # x-request-id, x-mock-fault, expect: skip the rest cheaply
            return
        lname = name.lower()
        if lname == b"x-request-id":
            self.request_id = value.decode("latin-1")
        elif lname == b"x-mock-fault":
            self.forced_fault = value.decode("latin-1").strip().lower()
        elif lname == b"expect" and value.lower() == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        recv = time.monotonic()
        item = (
            self.parser.get_method(),
            self.url,
            b"".join(self.body),
            self.request_id,
            self.forced_fault,
            self.parser.should_keep_alive(),
            recv,
        )
        if self.busy:
            self.pending.append(item)
        else:
            self._handle(*item)

    # answering
    def _handle(
        self,
        method: bytes,
        url: bytes,
        body: bytes,
        request_id: str | None,
        forced: str | None,
        keep_alive: bool,
        recv: float,
    ) -> None:
        self.busy = True
        self.keep_alive = keep_alive
        path = url.split(b"?", 1)[0]
        server = self.server
        if path == b"/v1/chat/completions":
            if method != b"POST":
                self.respond(405, _method_error("POST"))
                return
            server.request_counter += 1
            rid = request_id or f"mock-{server.request_counter}"
            req = None
            if server.instant and forced is None:
                try:
                    req = api.parse_chat_request(body, server.settings)
                except ApiError as exc:
                    self.respond(exc.status, exc.body())
                    return
                if not req.stream and server.engine.active < server.engine.slots:
                    self._answer_at_once(rid, req)
                    return
            Exchange(self, rid, body, forced, recv, req).start()
        elif path == b"/metrics":
            if method == b"GET":
                self.respond(200, server.metrics.render(server.engine), content_type=_PROMETHEUS)
            else:
                self.respond(405, _method_error("GET"))
        elif path == b"/health":
            if method == b"GET":
                self.respond(200, b'{"status":"ok"}')
            else:
                self.respond(405, _method_error("GET"))
        elif path == b"/v1/models":
            if method == b"GET":
                self.respond(200, server.models_body)
            else:
                self.respond(405, _method_error("GET"))
        else:
            self.respond(
                404,
                api.error_body(
                    f"no route {path.decode('latin-1')}; this server serves POST /v1/chat/completions, "
                    "GET /v1/models, GET /metrics and GET /health",
                    type="invalid_request_error",
                    code="not_found",
                ),
            )

    def _answer_at_once(self, request_id: str, req: ChatRequest) -> None:
        """A plain answer with a free slot and nothing to wait for (``server.instant``): what an
        ``Exchange`` would do then (take a slot, answer, give the slot back), in one step."""
        server = self.server
        answer = server.planner.plan(req)
        body = api.completion_body(
            "chatcmpl-" + request_id,
            int(time.time()),
            server.settings.model,
            "".join(answer.chunks),
            answer.finish_reason,
            req.prompt_tokens,
            answer.output_tokens,
        )
        metrics = server.metrics
        metrics.prompt_tokens += req.prompt_tokens
        metrics.generation_tokens += answer.output_tokens
        metrics.success[answer.finish_reason] += 1
        self.respond(200, body)

    def respond(
        self, status: int, body: bytes, *, content_type: bytes = b"application/json", extra: bytes = b""
    ) -> None:
        """Write a complete answer and move on to the next request."""
        if self.transport is None or self.closing:
            return
        close = not self.keep_alive
        if status == 200 and not close and not extra and content_type == b"application/json":
            self.transport.write(_OK_JSON % (len(body), body))  # the common answer: one format, one write
        else:
            self.transport.write(_head(status, content_type, len(body), close=close, extra=extra) + body)
        self.finished(close=close)

    def finished(self, *, close: bool = False) -> None:
        """The current answer is complete: close, or answer the next pipelined request."""
        self.exchange = None
        self.busy = False
        if close or not self.keep_alive:
            self.closing = True
            if self.transport is not None:
                self.transport.close()
            return
        if self.pending and not self.draining:
            # A loop, not recursion: a client may pipeline thousands of requests that answer at once.
            self.draining = True
            try:
                while self.pending and not self.busy and not self.closing:
                    self._handle(*self.pending.popleft())
            finally:
                self.draining = False

    def reset(self) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0), as a crashed server would."""
        self.closing = True
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def shutdown(self) -> None:
        """The server is stopping: end the exchange in flight and close."""
        if self.exchange is not None:
            self.exchange.abandon("server_stopped")
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        if self.transport is not None and not self.closing:
            body = api.error_body(message, type="invalid_request_error")
            self.transport.write(_head(status, b"application/json", len(body), close=True) + body)
            self.closing = True
            self.transport.close()


def _method_error(allowed: str) -> bytes:
    return api.error_body(
        f"method not allowed; use {allowed}", type="invalid_request_error", code="method_not_allowed"
    )


class Exchange:
    """One chat completion request in flight: its schedule, faults and ground truth."""

    __slots__ = (
        "admitted",
        "answer",
        "cached_tokens",
        "cancelled",
        "chunk_times",
        "conn",
        "created",
        "done",
        "fault",
        "handle",
        "headers_at",
        "holds_slot",
        "index",
        "next_t",
        "raw",
        "recv",
        "req",
        "request_id",
        "status",
        "writer",
    )

    def __init__(
        self,
        conn: Connection,
        request_id: str,
        raw: bytes,
        forced: str | None,
        recv: float,
        req: ChatRequest | None = None,
    ) -> None:
        self.conn = conn
        self.request_id = request_id
        self.raw = raw
        self.fault: str | None = forced
        self.recv = recv
        self.admitted: float | None = None
        self.headers_at: float | None = None
        self.chunk_times: list[float] = []
        self.done = False
        self.cancelled = False
        self.holds_slot = False
        self.handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self.req: ChatRequest | None = req  # None: parsed and validated by start()
        self.answer: Answer | None = None
        self.writer: ChunkWriter | None = None
        self.status = 0
        self.index = 0
        self.next_t = 0.0
        self.created = 0
        self.cached_tokens: int | None = None  # set on admission when the mock has a prefix cache

    # --- start: validate, draw the fault, answer at once or go to the queue
    def start(self) -> None:
        server = self.conn.server
        if self.fault is not None and self.fault != "none" and self.fault not in FAULT_KINDS:
            self._error(
                ApiError(
                    f"unknown X-Mock-Fault '{self.fault}'; kinds: none, {', '.join(FAULT_KINDS)}",
                    param="X-Mock-Fault",
                )
            )
            return
        if self.req is None:
            try:
                self.req = api.parse_chat_request(self.raw, server.settings)
            except ApiError as exc:
                self.fault = None
                self._error(exc)
                return
        self.conn.exchange = self
        self.fault = server.draw_fault(self.fault)
        fault = self.fault
        if fault is None:
            self._begin()
        elif fault == "http_500":
            self._error(ApiError("mock fault: internal server error", status=500, type="server_error"))
        elif fault == "http_429":
            extra = b"retry-after: %d\r\n" % server.settings.retry_after_s
            self._error(
                ApiError(
                    "mock fault: rate limit reached",
                    status=429,
                    type="rate_limit_error",
                    code="rate_limit_exceeded",
                ),
                extra=extra,
            )
        elif fault == "http_503":
            self._error(
                ApiError(
                    "mock fault: service unavailable", status=503, type="server_error", code="overloaded"
                )
            )
        elif fault == "reset_before_headers":
            self.status = 0
            self._finish_log()
            self.conn.reset()
        elif fault == "not_json":
            body = b"<html><body>502 upstream hiccup (mock fault: not_json)</body></html>"
            self.status = 200
            self.headers_at = time.monotonic()
            self._finish_log()
            self.conn.respond(200, body, content_type=b"text/html")
        elif fault == "stall":
            self.handle = asyncio.get_running_loop().call_later(server.settings.stall_s, self._begin)
        elif fault == "slow_headers":
            self.handle = asyncio.get_running_loop().call_later(
                server.settings.slow_headers_ms / 1000.0, self._begin
            )
        elif fault == "close_after_request":
            self.status = 0
            self._finish_log()
            self.conn.closing = True
            if self.conn.transport is not None:
                self.conn.transport.close()  # an orderly close (FIN) without a byte of answer
        elif fault == "oversized":
            self._oversized()
        else:
            self._begin()

    def _error(self, exc: ApiError, *, extra: bytes = b"") -> None:
        self.status = exc.status
        self._finish_log()
        self.conn.respond(exc.status, exc.body(), extra=extra)

    def _begin(self) -> None:
        self.handle = None
        if self.cancelled:
            return
        server = self.conn.server
        assert self.req is not None
        self.answer = server.planner.plan(self.req)
        self.created = int(time.time())
        if self.req.stream:
            self.writer = ChunkWriter(
                "chatcmpl-" + self.request_id,
                self.created,
                server.settings.model,
                include_usage=self.req.include_usage,
            )
            self.status = 200
            fault = self.fault
            head = _HTTP10_SSE_HEAD if fault == "http10_close" else _SSE_HEAD
            if fault == "text_plain_stream":
                head = head.replace(b"text/event-stream", b"text/plain")
            head += b"x-request-id: " + self.request_id.encode("latin-1", "replace") + b"\r\n\r\n"
            if fault == "trickle_headers":
                self._trickle(head, lambda: server.engine.submit(self))
                return
            self.headers_at = time.monotonic()
            self._send(head)
        server.engine.submit(self)

    def _trickle(self, head: bytes, then: Callable[[], None]) -> None:
        """Write ``head`` one byte every ``trickle_ms``, then call ``then`` (the 'trickle_headers' fault)."""
        delay_s = self.conn.server.settings.trickle_ms / 1000.0
        loop = asyncio.get_running_loop()

        def step(i: int) -> None:
            self.handle = None
            if self.cancelled or self.conn.closing:
                return
            self._send(head[i : i + 1])
            if i + 1 < len(head):
                self.handle = loop.call_later(delay_s, step, i + 1)
            else:
                self.headers_at = time.monotonic()
                then()

        step(0)

    def _oversized(self) -> None:
        """An answer that never ends: a stream of content chunks, or a chunked plain body, written as
        fast as the client reads, until it hangs up (or 1 GiB, so the mock stops by itself)."""
        assert self.req is not None
        self.status = 200
        self.headers_at = time.monotonic()
        if self.req.stream:
            writer = ChunkWriter(
                "chatcmpl-" + self.request_id,
                int(time.time()),
                self.conn.server.settings.model,
                include_usage=False,
            )
            self._send(_SSE_HEAD + b"\r\n" + writer.role())
            piece = writer.content("many " * 800) * 16
        else:
            self._send(
                _head(200, b"application/json", 0).replace(
                    b"content-length: 0", b"transfer-encoding: chunked"
                )
            )
            self._send(api.frame(b'{"choices":[{"index":0,"message":{"role":"assistant","content":"'))
            piece = api.frame(b"many " * 13000)
        loop = asyncio.get_running_loop()

        def pump() -> None:
            self.handle = None
            transport = self.conn.transport
            if self.cancelled or self.conn.closing or transport is None:
                return
            while transport.get_write_buffer_size() < _WRITE_BUFFER_BYTES and self.index < _OVERSIZED_BYTES:
                transport.write(piece)
                self.index += len(piece)
            if self.index >= _OVERSIZED_BYTES:
                self._finish_log()
                self.conn.closing = True
                transport.close()
                return
            self.handle = loop.call_later(0.002, pump)

        pump()

    # --- the serving model's callbacks
    def admit(self) -> None:
        if self.cancelled:  # abandoned between submit and admission: give the slot back
            self.conn.server.engine.release()
            return
        self.holds_slot = True
        now = time.monotonic()
        self.conn.server.metrics.prompt_tokens += self.req.prompt_tokens if self.req is not None else 0
        self.admitted = now
        assert self.req is not None
        settings = self.conn.server.settings
        if self.writer is not None:
            self._write(self.writer.role())
        computed = self.req.prompt_tokens
        cache = self.conn.server.prefix_cache
        if cache is not None:
            self.cached_tokens = cache.admit(self.req.messages, self.req.prompt_tokens)
            computed -= self.cached_tokens
            self.conn.server.metrics.prefix_cached(self.req.prompt_tokens, self.cached_tokens)
        prefill_s = (settings.prefill_base_ms + settings.prefill_per_token_ms * computed) / 1000.0
        self.next_t = now + prefill_s
        self._schedule()

    def _schedule(self) -> None:
        if self.next_t - time.monotonic() <= _EARLY_S:
            self._tick()
        else:
            self.conn.server.scheduler.at(self.next_t, self._tick)

    def _tick(self) -> None:
        if self.cancelled:
            return
        answer = self.answer
        assert answer is not None
        engine = self.conn.server.engine
        metrics = self.conn.server.metrics
        n = len(answer.chunks)
        writer = self.writer
        while True:
            now = time.monotonic()
            if self.next_t - now > _EARLY_S:
                self.conn.server.scheduler.at(self.next_t, self._tick)
                return
            if self.index >= n:
                self._complete()
                return
            i = self.index
            if writer is not None:
                if i == n // 2 and self.fault is not None:
                    if self.fault == "reset_mid_stream":
                        self._abort_mid_stream()
                        return
                    if self.fault == "bad_json_chunk":
                        self._write(writer.malformed())
                self.chunk_times.append(time.monotonic())
                usage = None
                if self.req is not None and self.req.continuous_usage:
                    usage = api.usage_json(self.req.prompt_tokens, sum(answer.chunk_tokens[: i + 1]))
                if i < answer.reasoning_chunks:
                    self._write(writer.reasoning(answer.chunks[i], usage))
                else:
                    self._write(writer.content(answer.chunks[i], usage))
            elif engine.tpot_s == 0.0:
                self.index = n  # a plain answer with no decode time: nothing to wait for
                metrics.generation_tokens += sum(answer.chunk_tokens[i:])
                continue
            metrics.generation_tokens += answer.chunk_tokens[i]
            self.index = i + 1
            if self.index < n:
                self.next_t += answer.chunk_tokens[self.index] * engine.token_s()

    def _complete(self) -> None:
        answer = self.answer
        req = self.req
        assert answer is not None and req is not None
        server = self.conn.server
        fault = self.fault
        if fault is None:
            server.metrics.success[answer.finish_reason] += 1
        if self.writer is not None:
            w = self.writer
            tail = w.finish(answer.finish_reason)
            if req.include_usage:
                tail += w.usage(
                    req.prompt_tokens, answer.output_tokens, self.cached_tokens, self._reasoning()
                )
            if fault != "no_done":
                tail += api.frame(api.DONE)
            self._release()
            self._finish_log()
            self._write(tail + api.LAST_CHUNK)
            self.conn.finished(close=fault == "http10_close")  # an HTTP/1.0 body ends with the connection
            return
        r = answer.reasoning_chunks
        body = api.completion_body(
            "chatcmpl-" + self.request_id,
            self.created,
            server.settings.model,
            "".join(answer.chunks[r:]),
            answer.finish_reason,
            req.prompt_tokens,
            answer.output_tokens,
            reasoning="".join(answer.chunks[:r]),
            cached_tokens=self.cached_tokens,
            reasoning_tokens=self._reasoning(),
        )
        self._release()
        self.status = 200
        self.headers_at = time.monotonic()
        if fault in ("reset_mid_stream", "no_done"):
            # The head promises the whole body; half of it arrives, then an RST (reset) or a clean close.
            self._finish_log()
            self._write(_head(200, b"application/json", len(body)) + body[: len(body) // 2])
            if fault == "reset_mid_stream":
                self.conn.reset()
            else:
                self.conn.closing = True
                if self.conn.transport is not None:
                    self.conn.transport.close()
            return
        if fault == "bad_json_chunk":
            body = body[: len(body) // 2]
        if fault == "http10_close":
            self._finish_log()
            self._send(_HTTP10_JSON_HEAD + body)
            self.conn.finished(close=True)
            return
        if fault == "trickle_headers":
            self.headers_at = None
            head = _head(200, b"application/json", len(body))

            def rest() -> None:
                self._finish_log()
                self._write(body)
                self.conn.finished()

            self._trickle(head, rest)
            return
        self._finish_log()
        self.conn.respond(200, body)

    def _reasoning(self) -> int | None:
        """Reasoning tokens for usage: reported whenever the mock is set to reason (0 included)."""
        if self.answer is None or self.conn.server.settings.reasoning_share == 0:
            return None
        return self.answer.reasoning_tokens

    def _abort_mid_stream(self) -> None:
        self._release()
        self._finish_log()
        self.conn.reset()

    def _write(self, data: bytes) -> None:
        """Write answer bytes (a stream's events come framed as HTTP/1.1 chunks; HTTP/1.0 has none)."""
        transport = self.conn.transport
        if transport is not None and not self.conn.closing:
            transport.write(_unframe(data) if self.fault == "http10_close" else data)

    def _send(self, data: bytes) -> None:
        """Write bytes as they are (a head)."""
        transport = self.conn.transport
        if transport is not None and not self.conn.closing:
            transport.write(data)

    def _release(self) -> None:
        if self.holds_slot:
            self.holds_slot = False
            self.conn.server.engine.release()

    def abandon(self, why: str) -> None:
        """The connection went away (or the server stops) before the answer was complete."""
        if self.done:
            return
        self.cancelled = True
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self._release()
        self._finish_log(why)

    def _finish_log(self, ended: str | None = None) -> None:
        self.done = True
        truth = self.conn.server.truth
        if truth is None or self.request_id == PROBE_REQUEST_ID:
            return
        req = self.req
        answer = self.answer
        truth.write(
            {
                "request_id": self.request_id,
                "recv_mono_s": self.recv,
                "admitted_mono_s": self.admitted,
                "headers_mono_s": self.headers_at,
                "chunk_mono_s": self.chunk_times,
                "done_mono_s": time.monotonic(),
                "status": self.status,
                "fault": self.fault,
                "prompt_tokens": req.prompt_tokens if req is not None else None,
                "output_tokens": answer.output_tokens if answer is not None else None,
                "cached_tokens": self.cached_tokens,
                "reasoning_tokens": answer.reasoning_tokens if answer is not None else None,
                "stream": req.stream if req is not None else None,
                "ended": ended or "complete",
            }
        )


# --- running it


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed (not on Windows), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(settings: MockSettings, *, on_listening: Callable[[str], None] | None = None) -> int:
    """Run the mock until SIGINT/SIGTERM; prints the one ``listening`` line; returns the exit code 0."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(settings, on_listening))
    finally:
        loop.close()
    return 0


async def _serve(settings: MockSettings, on_listening: Callable[[str], None] | None) -> None:
    loop = asyncio.get_running_loop()
    server = MockServer(settings)
    host, port = await server.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    watch_asyncio(loop, stop.set)  # started by chatbench: stop when it ends, however it ends
    # Everything alive now (modules, classes, settings) lives until exit: move it out of the garbage
    # collector's sight, so a full collection under load scans only requests, not the whole program
    # (tens of milliseconds of stalled streams otherwise).
    gc.collect()
    gc.freeze()
    url = f"http://{host}:{port}"
    if on_listening is not None:
        on_listening(url)
    try:
        await stop.wait()
    finally:
        await server.close()


@contextlib.contextmanager
def running_in_thread(settings: MockSettings) -> Iterator[str]:
    """Run the mock on its own event loop in a daemon thread (for tests); yields its URL."""
    loop = new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        try:
            server = MockServer(settings)
            host, port = await server.start()
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            return
        box["url"] = f"http://{host}:{port}"
        box["stop"] = stop = asyncio.Event()
        ready.set()
        await stop.wait()
        await server.close()

    thread = threading.Thread(
        target=lambda: loop.run_until_complete(main()), name="chatbench-mock", daemon=True
    )
    thread.start()
    ready.wait(10)
    if "error" in box:
        thread.join(5)
        loop.close()
        raise box["error"]
    try:
        yield box["url"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        loop.close()
