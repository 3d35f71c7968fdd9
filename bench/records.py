"""The per-request record: the one contract between the load side and the analysis side.

The load generator writes one ``Record`` per request it sent (successful or not) to
``results/<run-id>/records/<worker>.jsonl``, one JSON object per line, flushed at least every
second. When a run ends the files are merged into ``results/<run-id>/records.parquet``. Everything a
report needs is in these records, so a report can be rebuilt offline from the results directory.

Clocks: ``started_at_s`` and ``scheduled_at_s`` are wall-clock (Unix epoch seconds) labels of *when*
something happened; never subtract them for latency. Every duration (``ttft_ms``, ``itl_ms``,
``e2e_ms``) comes from the monotonic clock (``time.perf_counter``). ``start_mono_s`` is the monotonic
time at which the request was sent, so tests can line records up with the mock server's own log of
when it wrote each chunk (on Linux both use CLOCK_MONOTONIC).

What starts and stops each clock (the metric specification in ``docs/metrics.md`` has the rest):

- the clock starts just before the request bytes are written to a connected socket (``start_mono_s``):
  a TCP connect made for the request is ``connect_ms``, apart (None on a kept-alive connection); when
  no connection could be made, ``start_mono_s`` is when the connect began;
- ``ttft_ms`` stops at the first SSE event whose delta carries non-empty content (not the role
  chunk, not a usage-only chunk); it is ``None`` for non-streaming requests, which have no first token;
- ``itl_ms`` holds the gaps between consecutive content-carrying chunks (per chunk, not per token);
- ``e2e_ms`` stops when the whole response has arrived: the ``data: [DONE]`` event of a stream, or
  the end of a non-streaming body. For a failed request it is the time until the failure was seen.

Nothing here imports locust, gevent or pandas.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

import orjson

__all__ = [
    "ERROR_KINDS",
    "RECORD_COLUMNS",
    "STOP_REASONS",
    "TOKEN_SOURCES",
    "ErrorKind",
    "Record",
    "StopReason",
    "TokenSource",
    "read_jsonl",
    "record_from_json",
]

StopReason = Literal[
    "schedule",  # the planned stages ended
    "max_requests",  # the run's request budget was spent
    "target_unreachable",  # the circuit breaker: no request could connect for a while (bench.load.breaker)
    "trace_overran",  # a trace ran past its planned stage to send every row
]
"""Why the load stopped, as the load shape writes it to ``run.json``'s ``schedule.stop_reason``: part of
the run directory's contract, read by the analysis (``bench.analysis.window``) and ``chatbench run``."""
STOP_REASONS: tuple[StopReason, ...] = get_args(StopReason)

ErrorKind = Literal[
    "http_error",  # the server answered with a non-2xx status (``status`` says which)
    "connect_error",  # the TCP connection could not be made (refused, unreachable)
    "connect_timeout",  # the connection was not made within the connect timeout
    "first_byte_timeout",  # no response byte arrived within the first-byte timeout
    "total_timeout",  # the whole answer did not arrive within the request timeout
    "connection_reset",  # the server closed or reset the connection before the answer was complete
    "stream_incomplete",  # the stream ended cleanly but without ``data: [DONE]``
    "bad_json",  # a body or SSE event was not valid JSON
    "bad_response",  # valid JSON, but not the shape of a chat completion
    "empty_answer",  # a well-formed answer with no content at all
    "cancelled",  # the run ended (or the user was stopped) while the request was in flight
    "client_cancelled",  # the scenario cancelled the request on purpose (a user closing the tab)
    "too_large",  # the answer passed the client's memory bound (a body or stream that never ends)
    "client_error",  # chatbench itself failed on this request; a bug, the message says where
]
ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)

TokenSource = Literal["usage", "tokenizer", "chunks"]
"""Where ``output_tokens`` came from: the server's ``usage``, a local tokenizer file, or the number of
content chunks (an estimate: a chunk can carry several tokens)."""
TOKEN_SOURCES: tuple[str, ...] = get_args(TokenSource)


@dataclass(frozen=True, slots=True)
class Record:
    """One request as the load generator saw it."""

    run_id: str
    worker: str  # which load-generator process ("local", "w0", "w1", ...)
    user: int  # Locust user index within the worker
    request_id: str  # unique per request; sent to the server as the ``X-Request-Id`` header
    scenario: str
    prompt_set: str
    prompt_id: str
    turn: int  # 0 for single prompts; the turn index in a multi-turn conversation
    step: int  # load stage / sweep step index (0 when the run has a single stage)
    stream: bool
    # Sampling values exactly as sent; None when the key was not in the body.
    temperature: float | None
    top_p: float | None
    presence_penalty: float | None
    frequency_penalty: float | None
    max_tokens: int | None
    # When: wall clock, epoch seconds. ``scheduled_at_s`` only for open-loop arrivals.
    scheduled_at_s: float | None
    started_at_s: float
    start_mono_s: float
    client_lag_ms: float | None  # actual send minus scheduled send (open loop), on the monotonic clock
    # How long: monotonic clock, milliseconds.
    ttft_ms: float | None
    itl_ms: array[float]  # gaps between consecutive content chunks; len == chunks - 1 when complete
    e2e_ms: float | None
    prompt_tokens: int | None
    output_tokens: int | None
    token_source: TokenSource | None
    chunks: int  # content-carrying chunks received (1 for a non-streaming answer with content)
    finish_reason: str | None
    status: int  # HTTP status code; 0 when no response status was received
    error_kind: ErrorKind | None
    error_message: str | None  # short, for people; never contains the API key
    lg_cpu_pct: float | None = None  # load-generator CPU % (of one core) when the request ended
    # How the request was sent. ``attempts`` > 1 when a kept-alive connection turned out to be closed
    # before any byte of the answer and the request was sent again on a new connection; the failure
    # that caused the last resend is kept in ``resend_kind`` and ``resend_at_ms`` (ms after the first
    # send). ``connect_ms``: TCP (and TLS) set-up on a new connection; None on a reused one.
    attempts: int = 1
    resend_kind: str | None = None
    resend_at_ms: float | None = None
    connect_ms: float | None = None
    retry_after_s: float | None = None  # the Retry-After of a 429/503 answer, when the server sent one
    # What the answer was made of (None when the server did not say).
    ttfo_ms: float | None = None  # first *answer* token (content, not reasoning_content); see bench.metrics
    cached_tokens: int | None = None  # usage.prompt_tokens_details.cached_tokens
    reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens
    reasoning_ms: float | None = None  # first reasoning delta -> first answer delta
    chunk_tokens: array[int] | None = None  # tokens per content chunk, when the server reports them

    @property
    def ok(self) -> bool:
        """True when the request succeeded (no error kind)."""
        return self.error_kind is None

    def to_json(self) -> bytes:
        """One JSONL line (without the newline). ``itl_ms`` becomes a list of floats."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["itl_ms"] = [round(x, 4) for x in self.itl_ms]
        if self.chunk_tokens is not None:
            data["chunk_tokens"] = list(self.chunk_tokens)
        return orjson.dumps(data)


RECORD_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Record))
"""The column names of a records file, in order."""


def record_from_json(line: bytes | str) -> Record:
    """Parse one JSONL line back into a ``Record`` (the inverse of ``Record.to_json``)."""
    data: dict[str, Any] = orjson.loads(line)
    data["itl_ms"] = array("d", data.get("itl_ms") or ())
    if data.get("chunk_tokens") is not None:
        data["chunk_tokens"] = array("l", data["chunk_tokens"])
    return Record(**data)


def read_jsonl(paths: Iterable[str | Path]) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of JSONL files (records, monitor samples, a truth log), in file order.

    Also returns how many lines were skipped: a line that is not a JSON object, such as the last line
    of a file whose writer was killed mid-write. Blank lines are ignored.
    """
    rows: list[dict[str, Any]] = []
    skipped = 0
    for path in paths:
        for line in Path(path).read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                skipped += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                skipped += 1
    return rows, skipped
