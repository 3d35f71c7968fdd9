"""The streaming chat client: send one request, time every SSE event, classify every failure.

This is the instrument itself, so the hot path is chosen by measurement
(``shared/research/client-bench.md``, ``docs/load.md``): geventhttpclient, the HTTP client under
Locust's ``FastHttpUser``, its socket read as soon as it is readable and every complete line of
each ``recv`` handed over at once (``_body_lines``): nothing waits for a buffer to fill. Its
``read(n)``-based helpers (``iter_content``, ``FastHttpSession.iter_lines``)
wait for ``n`` bytes and batch about five events together: +53..+105 ms of TTFT error. Locust's own
``FastHttpSession`` is bypassed because it fires its request event when the *headers* arrive; the
users fire one event per request themselves, with the end-to-end time.

Each line gets the ``time.perf_counter()`` taken as the ``recv`` that brought it returned, before
any framing or JSON parsing (orjson).
TTFT stops at the first event whose delta has non-empty ``content``, ``reasoning_content`` (a
reasoning model's first thought is its first token) or ``tool_calls`` (a streamed tool call is
output): never at the role-only first chunk nor at a usage-only last chunk. TTFO stops at the first
content or tool-call delta; ``reasoning_ms`` runs from the first reasoning delta to it. Usage gives
``cached_tokens`` (``prompt_tokens_details``; llama.cpp's ``timings.cache_n`` when that is absent)
and ``reasoning_tokens`` (``completion_tokens_details``); a chunk carrying running usage (vLLM's
``continuous_usage_stats``) gives its own token count (``chunk_tokens``). ``itl_ms`` holds the gaps between consecutive content-carrying events, in
``array('d')`` (no per-chunk Python float objects for the garbage collector to walk).

The clock (``Exchange.start_mono_s``) starts just before the request bytes are written to a connected
socket: a TCP connect made for this request is timed apart (``connect_ms``; None on a kept-alive
connection) and is not in TTFT or E2E. When no connection could be made, the clock is the moment the
connect began, and E2E is the time until it failed.

Time limits (from the scenario): ``connect_s`` for the TCP connect; ``first_byte_s`` until the
response headers are complete (a server that trickles them byte by byte counts as not answering) and,
for a stream whose headers came at once, until its first body line (servers that queue a request send
the headers first); ``total_s`` for the whole exchange. An answer larger than
``ClientSettings.max_answer_bytes`` (32 MiB of body by default: a body or a stream that never ends)
is cut there and recorded as ``too_large``; nothing more of it is kept in memory.

Resends (``ClientSettings.resend``, on by default, ``target.resend`` in a scenario): a request is sent
again only when it went out on a *kept-alive* connection that turns out to be closed before a single
byte of the answer (an orderly end of file, or a failed write): the server closed that idle
connection as the request was written (llama.cpp's server does so after every stream), so the
request never reached its application. It is never sent again after a reset (RST) or after any byte
of the answer, nor when it went out on a new connection: those are the server failing, and are
recorded as such. A resent request says so: ``attempts`` > 1, ``resend_kind`` and ``resend_at_ms``.

A failure never raises: it becomes an ``Exchange`` with an ``error_kind`` (``bench.records.ErrorKind``).
Only ``GreenletExit`` (the run is stopping this greenlet) propagates, after the exchange is marked
``cancelled`` so the caller can still write its record.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import itertools
import os
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gevent
import orjson
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPSocketPoolResponse
from geventhttpclient.url import URL

from bench.errors import error_text
from bench.load.sse import SseParser
from bench.records import ErrorKind, TokenSource
from bench.tokens import TokenCounter

__all__ = ["ChatClient", "ClientSettings", "Exchange", "new_request_id"]

_ERROR_BODY_BYTES = 2000  # how much of an error body is read for its message
_MESSAGE_CHARS = 200  # longest error_message kept in a record
_RECV_BYTES = 65536  # one recv of a stream's body reads up to this
_DRAIN_AFTER_DONE_S = 1.0  # how long to wait for the end of the body after `data: [DONE]`
MAX_ANSWER_BYTES = 32 * 1024 * 1024  # the default memory bound of one answer's body (too_large past it)
_perf_counter = time.perf_counter


class _RequestIds:
    """Request ids: 64 random bits drawn once per process (again in a forked child) and a counter.

    32 hex digits, like a uuid4's, unique across the processes of a run, without ``uuid4``'s
    ``getrandom`` system call on every request.
    """

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.count = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"


_IDS = _RequestIds()
os.register_at_fork(after_in_child=_IDS.reseed)


def new_request_id() -> str:
    """A fresh request id (sent as ``X-Request-Id``)."""
    return _IDS.next()


@dataclass(frozen=True)
class ClientSettings:
    """Where and how to send: the target and its time limits (seconds)."""

    base_url: str
    path: str = "/v1/chat/completions"
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 5.0
    first_byte_timeout_s: float = 60.0
    total_timeout_s: float = 300.0
    concurrency: int = 1  # connections kept by this client (1 for a closed-loop user)
    resend: bool = True  # send again when a kept-alive connection was closed before any answer byte
    max_answer_bytes: int = MAX_ANSWER_BYTES  # body bytes of one answer before it is cut (too_large)


@dataclass(slots=True)
class Exchange:
    """What one request produced; ``ChatClient.send`` fills it in, the user turns it into a ``Record``."""

    request_id: str
    stream: bool
    started_at_s: float = 0.0  # wall clock at send (a label, not for latency)
    start_mono_s: float = 0.0  # perf_counter just before the request bytes were written
    connect_ms: float | None = None  # the TCP connect made for this request; None on a reused one
    attempts: int = 1  # > 1: sent again after a kept-alive connection was found closed
    resend_kind: str | None = None  # the failure that caused the last resend
    resend_at_ms: float | None = None  # when it was seen, ms after the first attempt's bytes were written
    retry_after_s: float | None = None  # Retry-After of an error answer (429, 503), in seconds
    status: int = 0
    ttft_ms: float | None = None
    itl_ms: array[float] = field(default_factory=lambda: array("d"))
    e2e_ms: float | None = None
    chunks: int = 0
    answer: str = ""  # the content (not the reasoning): the assistant turn of a conversation
    reasoning: str = ""
    finish_reason: str | None = None
    usage_prompt_tokens: int | None = None
    usage_completion_tokens: int | None = None
    # What the answer was made of (None: the server did not say); see bench.records.Record.
    ttfo_ms: float | None = None  # the first answer (content or tool-call) delta
    reasoning_ms: float | None = None  # first reasoning delta -> first answer delta
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    chunk_tokens: array[int] | None = None  # per content chunk, from running usage (continuous_usage_stats)
    cancel_after_tokens: int | None = None  # abandon the stream once this many tokens arrived (load.cancel)
    error_kind: ErrorKind | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    def fail(self, kind: ErrorKind, message: str) -> None:
        """Mark the exchange failed (the first failure wins) and stop its E2E clock if still running."""
        if self.error_kind is None:
            self.error_kind = kind
            self.error_message = message[:_MESSAGE_CHARS]
        if self.e2e_ms is None and self.start_mono_s:
            self.e2e_ms = (_perf_counter() - self.start_mono_s) * 1000.0

    def output_tokens(self, counter: TokenCounter | None) -> tuple[int | None, TokenSource | None]:
        """Output tokens and where the number came from: usage, else the tokenizer, else the chunks."""
        if self.usage_completion_tokens is not None:
            return self.usage_completion_tokens, "usage"
        if not self.chunks:
            return None, None
        if counter is not None:
            return counter(self.reasoning + self.answer), "tokenizer"
        return self.chunks, "chunks"

    def prompt_tokens(
        self, messages: Sequence[Mapping[str, str]], counter: TokenCounter | None
    ) -> int | None:
        """Prompt tokens from usage, else the tokenizer over the message contents, else None."""
        if self.usage_prompt_tokens is not None:
            return self.usage_prompt_tokens
        if counter is not None:
            return sum(counter(m.get("content") or "") for m in messages)
        return None


class _Failure(Exception):
    """Internal: a classified failure found while reading an answer."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class _ClientCancel(Exception):
    """Internal: the scenario's cancel delay passed (``load.cancel.after_s``): abandon the request."""


class _StreamTimeout(TimeoutError):
    """Internal: a stream's first-byte or total deadline passed while waiting for its next line."""


class _ConnectTimeout(Exception):
    """Internal: the TCP connect did not finish within the connect timeout."""


class _ConnectFailed(Exception):
    """Internal: the TCP connect failed (refused, unreachable, unknown host)."""


def _watch_connects(client: HTTPClient, fresh: dict[Any, float]) -> None:
    """Time every new connection (into ``fresh``: socket -> connect ms) and make connect failures
    distinguishable from read timeouts (both are OSError in geventhttpclient)."""
    pool = client._connection_pool
    create = pool._create_socket

    def create_socket() -> Any:
        t0 = _perf_counter()
        try:
            sock = create()
        except TimeoutError as exc:
            raise _ConnectTimeout("connect timed out") from exc
        except OSError as exc:
            raise _ConnectFailed(_os_error_text(exc)) from exc
        fresh[sock] = (_perf_counter() - t0) * 1000.0
        return sock

    pool._create_socket = create_socket  # type: ignore[method-assign]


def _retry_after_s(value: Any) -> float | None:
    """Seconds in a Retry-After header: a number of seconds, or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(seconds, 0.0) if seconds == seconds else None


def _os_error_text(exc: OSError) -> str:
    if exc.errno is not None and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _closed_text(exc: HTTPConnectionClosed, ex: Exchange, resend: bool) -> str:
    """Why a request whose connection closed before any answer byte was not sent again."""
    if exc.__context__ is not None:
        return "connection reset by the server before any answer byte"
    if ex.connect_ms is not None:
        how = "on a new connection: not resent" + (f" (attempt {ex.attempts})" if ex.attempts > 1 else "")
    elif not resend:
        how = "on a kept-alive connection: resends are off"
    else:
        how = "again on a kept-alive connection after a resend"
    return f"the server closed the connection before answering, {how}"


def _discard(response: HTTPSocketPoolResponse) -> None:
    """Close a connection whose response was not read to the end (it cannot be reused)."""
    if response.message_complete:
        return
    pool, sock = response._pool, response._sock
    response._pool = response._sock = None
    if pool is not None and sock is not None:
        pool.release_socket(sock)


def _body_lines(response: HTTPSocketPoolResponse) -> Iterator[tuple[float, list[bytes | None]]]:
    """A streamed body as lists of lines: every complete line one ``recv`` brought, line ends
    (``\\n``) removed, with the ``perf_counter`` time taken as that ``recv`` returned (lines that came
    with the headers: the time they are handed over). The last list ends with ``None``: the end of the
    body (a last line without its ``\\n`` is not a line and is dropped, as ``readline`` drops it).

    One pass per ``recv`` instead of one ``readline`` per line, and the socket is read only once it
    is readable (``_recv_ready``), so a paced stream costs one ``recv`` call per chunk, not two.
    """
    buf = response._body_buffer  # the parser appends the body here (through ``_bound_body``'s bound)
    rest = b""
    t = _perf_counter()
    while True:
        if buf:
            data = rest + buf if rest else bytes(buf)
            del buf[:]
            lines: list[bytes | None] = data.split(b"\n")  # type: ignore[assignment]
            rest = lines.pop()  # type: ignore[assignment]
            if response.message_complete:
                lines.append(None)
                yield t, lines
                return
            if lines:
                yield t, lines
        elif response.message_complete:
            yield t, [None]
            return
        sock = response._sock
        if sock is None:
            raise HTTPConnectionClosed("connection closed.")
        try:
            data = _recv_ready(sock)
            t = _perf_counter()
            response.feed(data)
        except BaseException:
            response.release()
            raise


def _recv_ready(sock: Any) -> bytes:
    """``sock.recv`` of a gevent socket without a timeout, but waiting for it to be readable first.

    gevent's own ``recv`` tries the system call first, and on a paced stream (one small chunk every
    few ms, read at once) that try almost always fails with ``EWOULDBLOCK``: an exception and a
    wasted system call per chunk. Waiting on the socket's read watcher first (a stream's timers are
    ``gevent.Timeout``\\s, which interrupt the wait) makes it one successful call.
    """
    raw = sock._sock
    while True:
        sock._wait(sock._read_event)
        try:
            return raw.recv(_RECV_BYTES)
        except BlockingIOError:  # woken without data after all
            continue


class ChatClient:
    """Sends chat completion requests to one target over a small pool of kept-alive connections."""

    def __init__(self, settings: ClientSettings, token_counter: TokenCounter | None = None) -> None:
        self.settings = settings
        self.token_counter = token_counter
        url = URL(settings.base_url)
        self._uri = url.path.rstrip("/") + settings.path
        self._http = HTTPClient.from_url(
            url,
            concurrency=settings.concurrency,
            connection_timeout=settings.connect_timeout_s,
            network_timeout=min(settings.first_byte_timeout_s, settings.total_timeout_s),
            headers={"Content-Type": "application/json", **settings.headers},
        )
        self._fresh: dict[Any, float] = {}  # new sockets not yet handed to a request -> connect ms
        _watch_connects(self._http, self._fresh)

    def close(self) -> None:
        self._http.close()

    def send(
        self,
        body: Mapping[str, Any],
        *,
        stream: bool,
        request_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        on_sent: Callable[[Exchange], None] | None = None,
        cancel_after_s: float | None = None,
        cancel_after_tokens: int | None = None,
    ) -> Exchange:
        """Send one request and read the whole answer. Never raises, except ``GreenletExit``.

        ``on_sent`` is called with the exchange right after the clock started (the caller counts it
        as in flight from then on). ``cancel_after_s``/``cancel_after_tokens``: abandon the answer on
        purpose that long after sending (at the response head if it comes later) or once that many
        output tokens arrived; the exchange is then ``client_cancelled`` and its connection closed.
        """
        ex = Exchange(request_id=request_id or new_request_id(), stream=stream)
        ex.cancel_after_tokens = cancel_after_tokens
        cancel_timer: gevent.Timeout | None = None
        headers = {
            "X-Request-Id": ex.request_id,
            "Accept": "text/event-stream" if stream else "application/json",
        }
        if extra_headers:
            headers.update(extra_headers)
        s = self.settings
        sock = None
        response: HTTPSocketPoolResponse | None = None
        try:
            payload = orjson.dumps(body)
            ex.started_at_s = time.time()
            ex.start_mono_s = _perf_counter()  # the connect's start; _post restarts it at the write
            if on_sent is not None:
                on_sent(ex)
            response = self._post(payload, headers, ex)
            if cancel_after_s is not None:
                left_s = ex.start_mono_s + cancel_after_s - _perf_counter()
                if left_s <= 0:
                    raise _ClientCancel
                cancel_timer = gevent.Timeout.start_new(left_s, _ClientCancel)
            deadline = ex.start_mono_s + s.total_timeout_s
            ex.status = response.status_code
            sock = response._sock  # None when the whole response was already read with the headers
            if not 200 <= ex.status < 300:
                ex.retry_after_s = _retry_after_s(response.get("retry-after"))
                raise _Failure(
                    "http_error", f"HTTP {ex.status}: {error_text(self._read_error_body(response))}"
                )
            self._bound_body(response)
            if stream:
                content_type = str(response.get("content-type") or "")
                if "event-stream" not in content_type:
                    _discard(response)
                    raise _Failure(
                        "bad_response", f"the answer is not an event stream (content-type {content_type!r})"
                    )
                self._read_stream(response, ex, sock, deadline)
            else:
                self._read_body(response, ex, sock, deadline)
        except _Failure as exc:
            ex.fail(exc.kind, str(exc))
        except _ClientCancel:
            ex.fail("client_cancelled", f"cancelled by the scenario {cancel_after_s:g} s after sending")
        except gevent.GreenletExit:
            ex.fail("cancelled", "the run ended while the request was in flight")
            raise
        except _ConnectTimeout:
            ex.fail("connect_timeout", f"no connection to {s.base_url} within {s.connect_timeout_s:g} s")
        except _ConnectFailed as exc:
            ex.fail("connect_error", f"cannot connect to {s.base_url}: {exc}")
        except TimeoutError:
            elapsed = _perf_counter() - ex.start_mono_s
            if elapsed >= s.total_timeout_s - 0.01:
                ex.fail("total_timeout", f"the answer took longer than {s.total_timeout_s:g} s")
            else:
                ex.fail("first_byte_timeout", f"no answer byte within {s.first_byte_timeout_s:g} s")
        except HTTPConnectionClosed as exc:
            ex.fail("connection_reset", _closed_text(exc, ex, s.resend))
        except HTTPParseError as exc:
            text = str(exc)
            if "closed" in text or "Incomplete" in text:
                ex.fail("connection_reset", f"the server closed the connection early: {text}")
            else:
                ex.fail("bad_response", f"malformed HTTP response: {text}")
        except (ConnectionError, BrokenPipeError) as exc:
            ex.fail("connection_reset", f"connection reset by the server ({_os_error_text(exc)})")
        except OSError as exc:
            if exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                ex.fail("connection_reset", f"connection reset by the server ({_os_error_text(exc)})")
            else:
                ex.fail("client_error", f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug in chatbench: keep the run going, say where
            ex.fail("client_error", f"{type(exc).__name__}: {exc}")
        finally:
            if cancel_timer is not None:
                cancel_timer.close()
            if response is not None:
                response.__dict__.pop("_on_body", None)  # _bound_body's wrapper refers to the response
                if not response.message_complete:
                    _discard(response)  # an answer not read to its end: its connection cannot be reused
            if sock is not None:
                # The socket may be back in the pool: give the next request the first-byte timeout again.
                with contextlib.suppress(OSError):
                    sock.settimeout(min(s.first_byte_timeout_s, s.total_timeout_s))
        return ex

    def _post(self, payload: bytes, headers: Mapping[str, str], ex: Exchange) -> HTTPSocketPoolResponse:
        """Write the request and read the response headers; resend only as the module docstring says.

        geventhttpclient's ``request`` is not used: it cannot tell a kept-alive connection from a new
        one, and its clock would include the connect. The headers must be complete within the
        first-byte limit (one ``gevent.Timeout``: a server trickling them byte by byte is caught too).
        """
        http = self._http
        pool = http._connection_pool
        s = self.settings
        raw = http._build_request("POST", self._uri, body=payload, headers=headers, chunked=False)
        request = raw.encode("latin-1") + payload
        first_sent = 0.0
        while True:
            sock = pool.get_socket()
            ex.connect_ms = self._fresh.pop(sock, None)
            reused = ex.connect_ms is None
            ex.started_at_s = time.time()
            ex.start_mono_s = t = _perf_counter()
            first_sent = first_sent or t
            limit = min(s.first_byte_timeout_s, s.total_timeout_s)
            timer = gevent.Timeout.start_new(limit, _StreamTimeout)
            try:
                try:
                    sock.sendall(request)
                except OSError as exc:
                    if exc.errno not in (errno.ECONNRESET, errno.EPIPE):
                        pool.release_socket(sock)
                        raise
                    # The server may have answered (413, 401) and closed before the whole request was
                    # written: read that answer. Without one, the request did not reach the server.
                    try:
                        return self._response(sock)
                    except (OSError, HTTPParseError):
                        if not self._may_resend(reused, ex, first_sent):
                            raise ConnectionResetError(
                                errno.ECONNRESET, "the connection was closed while the request was written"
                            ) from None
                        continue
                try:
                    return self._response(sock)
                except HTTPConnectionClosed as exc:
                    # An orderly end of file before any answer byte; a reset sets __context__.
                    if exc.__context__ is not None or not self._may_resend(reused, ex, first_sent):
                        raise
            finally:
                timer.close()

    def _response(self, sock: Any) -> HTTPSocketPoolResponse:
        """Read the response headers from ``sock``; on any failure the connection is closed for good
        (geventhttpclient may have put it back in the pool with an answer still to come)."""
        http = self._http
        try:
            return HTTPSocketPoolResponse(
                sock,
                http._connection_pool,
                block_size=http.block_size,
                method="POST",
                headers_type=http.headers_type,
            )
        except BaseException:
            with contextlib.suppress(OSError):
                sock.close()
            raise

    def _may_resend(self, reused: bool, ex: Exchange, first_sent: float) -> bool:
        """A kept-alive connection was closed before any answer byte: send again? Marks the resend."""
        if not (reused and self.settings.resend) or ex.attempts > self._http._connection_pool.size:
            return False
        ex.attempts += 1
        ex.resend_kind = "connection_reset"
        ex.resend_at_ms = (_perf_counter() - first_sent) * 1000.0
        return True

    def _bound_body(self, response: HTTPSocketPoolResponse) -> None:
        """Cut the answer at ``max_answer_bytes`` of body: past it, ``too_large`` and the connection goes.

        The parser's body callback is wrapped for this one response, so a line that never ends is cut
        as surely as a stream of lines that never ends, at the cost of one addition per ``recv``.
        """
        limit = self.settings.max_answer_bytes
        length = response.content_length
        if length is not None and length > limit:
            _discard(response)
            raise _Failure("too_large", f"the answer announces {length} bytes, over the {limit}-byte bound")
        buffer = response._body_buffer
        received = len(buffer)

        def on_body(data: bytearray) -> None:
            nonlocal received
            received += len(data)
            if received > limit:
                _discard(response)
                raise _Failure("too_large", f"the answer passed the {limit}-byte bound and was cut there")
            buffer.extend(data)

        response._on_body = on_body  # type: ignore[method-assign,assignment]

    def _read_error_body(self, response: HTTPSocketPoolResponse) -> bytes:
        try:
            return response.read(_ERROR_BODY_BYTES)
        except Exception:
            return b""
        finally:
            _discard(response)

    def _read_body(self, response: HTTPSocketPoolResponse, ex: Exchange, sock: Any, deadline: float) -> None:
        """A non-streaming answer: E2E when the body is complete; no TTFT, no ITL."""
        if sock is not None:
            sock.settimeout(max(deadline - _perf_counter(), 0.001))
        raw = response.read()
        ex.e2e_ms = (_perf_counter() - ex.start_mono_s) * 1000.0
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _Failure("bad_json", f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
            raise _Failure("bad_response", "no choices in the answer")
        self._take_usage(data, ex)
        self._take_timings(data, ex)
        choice = data["choices"][0]
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise _Failure("bad_response", "choices[0].message is missing")
        ex.answer = message.get("content") or ""
        ex.reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
        ex.finish_reason = choice.get("finish_reason")
        if not (ex.answer or ex.reasoning or message.get("tool_calls")):
            raise _Failure("empty_answer", "the answer has no content")
        ex.chunks = 1

    def _read_stream(
        self, response: HTTPSocketPoolResponse, ex: Exchange, sock: Any, deadline: float
    ) -> None:
        """Read SSE lines until ``data: [DONE]``; time each event before parsing it.

        The socket is put in blocking mode (no timeout) and one ``gevent.Timeout`` per phase stands
        for it: until the first body line the first-byte limit, then the total deadline. A socket
        timeout would cost a timer per read (about 5 µs per chunk); this costs two per request.
        """
        if sock is not None:
            sock.settimeout(None)  # send() gives it its timeout back before it can be reused
        self._read_events(response, ex, deadline)
        self._finish_body(response, sock)

    def _read_events(self, response: HTTPSocketPoolResponse, ex: Exchange, deadline: float) -> None:
        """The hot loop: the body's lines, as ``_body_lines`` hands them over (all the complete lines of
        one ``recv``, stamped when it returned), framed into events and each event's chunk read.

        The common event, a single ``data: ...`` line and then a blank line, is framed here without
        the parser; any other line (comments, ``event:``, multi-line data, ``\\r\\n``) hands the event
        to ``SseParser``, which then frames it by the full rules.
        """
        parser = SseParser()
        loads = orjson.loads
        content: list[str] = []
        reasoning: list[str] = []
        first_thought_t: float | None = None
        counts: array[int] = array("l")  # tokens per content chunk, from running usage
        counted = 0
        itl = ex.itl_ms
        start = ex.start_mono_s
        last_t = 0.0
        chunks = 0
        done = False
        pending: bytes | None = None  # the fast path's one ``data:`` line (prefix removed)
        pending_t = 0.0
        parsed = False  # the parser was fed a line (until then it is idle: no property call per line)
        # Until the first body bytes: the first-byte limit (headers may come long before the answer).
        first_byte_s = min(start + self.settings.first_byte_timeout_s, deadline) - _perf_counter()
        timer = gevent.Timeout.start_new(max(first_byte_s, 0.001), _StreamTimeout)
        first = True
        try:
            for t, lines in _body_lines(response):
                if first:
                    first = False
                    timer.close()  # from now on only the total deadline applies
                    timer = gevent.Timeout.start_new(max(deadline - t, 0.001), _StreamTimeout)
                for line in lines:
                    if line is None:  # the end of the body
                        if pending is not None:  # a data line without its blank line still counts
                            parser.feed_data(pending, pending_t)
                            pending = None
                        event = parser.end()
                        if event is None:
                            break
                        data, event_t = event.data, event.t_s
                    elif not line and pending is not None:  # the blank line after the fast path's data line
                        data, event_t, pending = pending, pending_t, None
                    elif (
                        pending is None
                        and line[:6] == b"data: "
                        and line[-1:] != b"\r"
                        and (not parsed or parser.idle)
                    ):
                        pending, pending_t = line[6:], t
                        continue
                    else:
                        if pending is not None:  # not a one-line event after all: the parser takes over
                            parser.feed_data(pending, pending_t)
                            pending = None
                        parsed = True
                        event = parser.feed(line, t)
                        if event is None:
                            continue
                        data, event_t = event.data, event.t_s
                    if data == b"[DONE]":
                        ex.e2e_ms = (event_t - start) * 1000.0
                        done = True
                        break
                    if t > deadline:
                        raise TimeoutError
                    try:
                        obj = loads(data)
                    except orjson.JSONDecodeError:
                        raise _Failure("bad_json", f"an SSE event is not JSON: {data[:80]!r}") from None
                    if not isinstance(obj, dict):
                        raise _Failure("bad_response", f"an SSE event is not a JSON object: {data[:80]!r}")
                    if "error" in obj:
                        raise _Failure("bad_response", f"error event in the stream: {error_text(data)}")
                    if obj.get("usage"):
                        self._take_usage(obj, ex)
                    if "timings" in obj:
                        self._take_timings(obj, ex)
                    choices = obj.get("choices")
                    if not choices:
                        continue
                    choice = choices[0]
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    thought = delta.get("reasoning_content") or delta.get("reasoning")
                    tool = delta.get("tool_calls")  # a streamed tool call is output too
                    if text or thought or tool:
                        if chunks:
                            itl.append((event_t - last_t) * 1000.0)
                        else:
                            ex.ttft_ms = (event_t - start) * 1000.0
                        last_t = event_t
                        chunks += 1
                        if text:
                            content.append(text)
                        if thought:
                            reasoning.append(thought)
                            if first_thought_t is None:
                                first_thought_t = event_t
                        if (text or tool) and ex.ttfo_ms is None:
                            ex.ttfo_ms = (event_t - start) * 1000.0
                            if first_thought_t is not None:
                                ex.reasoning_ms = (event_t - first_thought_t) * 1000.0
                        usage = obj.get("usage")
                        if usage and isinstance(usage.get("completion_tokens"), int):  # running usage
                            running = usage["completion_tokens"]
                            counts.append(running - counted)
                            counted = running
                        if ex.cancel_after_tokens is not None:
                            so_far = counted if len(counts) == chunks else chunks
                            if so_far >= ex.cancel_after_tokens:
                                raise _Failure(
                                    "client_cancelled",
                                    f"cancelled by the scenario after {so_far} output tokens",
                                )
                    finish = choice.get("finish_reason")
                    if finish:
                        ex.finish_reason = finish
                if done or (lines and lines[-1] is None):
                    break
        finally:
            timer.close()
            ex.chunks = chunks
            if chunks and len(counts) == chunks:  # every content chunk said how many tokens it held
                ex.chunk_tokens = counts
        ex.answer = "".join(content)
        ex.reasoning = "".join(reasoning)
        if not done:
            raise _Failure("stream_incomplete", "the stream ended without 'data: [DONE]'")
        if not chunks:
            raise _Failure("empty_answer", "the stream carried no content")

    @staticmethod
    def _finish_body(response: HTTPSocketPoolResponse, sock: Any) -> None:
        """Read what follows ``[DONE]`` (the end of the chunked body) so the connection can be reused."""
        if response.message_complete:
            return
        try:
            if sock is not None:
                sock.settimeout(_DRAIN_AFTER_DONE_S)
            while response.readline(b"\n"):
                pass
        except Exception:
            _discard(response)  # the answer is complete; only this connection is given up

    @staticmethod
    def _take_usage(obj: Mapping[str, Any], ex: Exchange) -> None:
        usage = obj.get("usage")
        if not isinstance(usage, dict):
            return
        completion = usage.get("completion_tokens")
        prompt = usage.get("prompt_tokens")
        if isinstance(completion, int):
            ex.usage_completion_tokens = completion
        if isinstance(prompt, int):
            ex.usage_prompt_tokens = prompt
        prompt_details = usage.get("prompt_tokens_details")
        if isinstance(prompt_details, dict) and isinstance(prompt_details.get("cached_tokens"), int):
            ex.cached_tokens = prompt_details["cached_tokens"]
        completion_details = usage.get("completion_tokens_details")
        if isinstance(completion_details, dict) and isinstance(
            completion_details.get("reasoning_tokens"), int
        ):
            ex.reasoning_tokens = completion_details["reasoning_tokens"]

    @staticmethod
    def _take_timings(obj: Mapping[str, Any], ex: Exchange) -> None:
        """llama.cpp's ``timings`` (``cache_n``: prompt tokens taken from its cache) when usage has no
        ``prompt_tokens_details``."""
        timings = obj.get("timings")
        if ex.cached_tokens is None and isinstance(timings, dict) and isinstance(timings.get("cache_n"), int):
            ex.cached_tokens = timings["cache_n"]
