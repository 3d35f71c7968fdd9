"""The mock's serving model: batch slots, a FIFO queue, prefill and decode times, output lengths.

A request holds one of ``batch_slots`` slots from admission to its last token (continuous
batching); requests beyond the slots wait in a FIFO queue. The times it follows:

    TTFT_s           = queue wait + (prefill_base_ms + prefill_per_token_ms * prompt_tokens) / 1000
    per-token time_s = tpot_ms * (1 + batch_slowdown * (active - 1)) / 1000

where ``active`` is the number of slots taken when the token is scheduled. Throughput therefore rises
with concurrency up to ``batch_slots`` and stays flat beyond it while latency climbs: a saturation knee.

What a request gets (output length and text) is drawn from a hash of the mock's seed, the messages
and the sampling values; at temperature 0 (or with an explicit ``seed``) the same request always gets
the same answer, otherwise a per-server request counter is mixed in.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import orjson

from bench.mock.api import ChatRequest
from bench.mock.settings import MockSettings
from bench.mock.text import draw_pieces

__all__ = ["Answer", "Engine", "Job", "draw_output_tokens", "plan_answer"]


class Job(Protocol):
    """What the engine schedules: told when it gets a slot; ``cancelled`` ones are skipped."""

    cancelled: bool

    def admit(self) -> None: ...


class Engine:
    """The batch slots and the FIFO queue in front of them."""

    __slots__ = ("active", "queue", "slots", "slowdown", "tpot_s")

    def __init__(self, settings: MockSettings) -> None:
        self.slots = settings.batch_slots
        self.tpot_s = settings.tpot_ms / 1000.0
        self.slowdown = settings.batch_slowdown
        self.active = 0
        self.queue: deque[Job] = deque()

    def submit(self, job: Job) -> None:
        """Admit the job now if a slot is free, else queue it (FIFO)."""
        if self.active < self.slots:
            self.active += 1
            job.admit()
        else:
            self.queue.append(job)

    def release(self) -> None:
        """A job gave its slot back: admit the next one still waiting."""
        self.active -= 1
        while self.queue and self.active < self.slots:
            job = self.queue.popleft()
            if job.cancelled:
                continue
            self.active += 1
            job.admit()

    def token_s(self) -> float:
        """Time of one output token at the current batch occupancy, s."""
        return self.tpot_s * (1.0 + self.slowdown * (self.active - 1))


@dataclass(slots=True)
class Answer:
    """What the mock will say: the content chunks, their token counts and why it stops."""

    chunks: list[str]
    chunk_tokens: list[int]
    output_tokens: int  # content and reasoning tokens together (as OpenAI's completion_tokens)
    finish_reason: str
    reasoning_chunks: int = 0  # the first this many chunks are reasoning_content
    reasoning_tokens: int = 0


def draw_output_tokens(u1: float, u2: float, s: MockSettings) -> int:
    """An output length from the configured distribution, given two uniforms in [0, 1).

    Clipped to [output_tokens_min, output_tokens_max] (not for 'fixed'). Normal draws use Box-Muller.
    """
    dist = s.output_dist
    mean = s.output_tokens
    if dist == "fixed":
        return mean
    lo, hi = s.output_tokens_min, s.output_tokens_max
    if dist == "uniform":
        return lo + min(int(u1 * (hi - lo + 1)), hi - lo)
    if dist == "exponential":
        value = -mean * math.log(1.0 - u1)
    else:
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        if dist == "normal":
            value = mean + s.output_tokens_std * z
        else:  # lognormal with the given mean and standard deviation
            sigma2 = math.log(1.0 + (s.output_tokens_std / mean) ** 2)
            value = math.exp(math.log(mean) - sigma2 / 2.0 + math.sqrt(sigma2) * z)
    return min(hi, max(lo, round(value)))


class Planner:
    """Draws each request's answer from a hash of (mock seed, messages, sampling values[, counter]).

    A hash instead of a ``random.Random`` per request: seeding one costs more than the rest of the
    plan, and the mock must stay far faster than any load generator.
    """

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        self.counter = 0
        self._cache: dict[bytes, Answer] = {}

    def plan(self, req: ChatRequest) -> Answer:
        s = self.settings
        deterministic = req.temperature == 0.0 or req.seed is not None
        self.counter += 1
        key = orjson.dumps(
            (
                s.seed,
                req.messages,
                req.temperature,
                req.top_p,
                req.presence_penalty,
                req.frequency_penalty,
                req.seed,
                req.max_tokens,
                req.stop,
                None if deterministic else self.counter,
            )
        )
        if deterministic:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        # One 192-bit integer cut into three 64-bit words (fewer conversions than three from_bytes).
        bits = int.from_bytes(hashlib.blake2b(key, digest_size=24).digest(), "big")
        u1 = (bits >> 139) * _TO_UNIT
        u2 = ((bits >> 75) & _MASK_53) * _TO_UNIT
        answer = plan_answer(u1, u2, bits & _MASK_64, req, s)
        if deterministic:
            if len(self._cache) >= 4096:
                self._cache.clear()
            self._cache[key] = answer
        return answer


_TO_UNIT = 2.0**-53  # a 53-bit integer -> a float in [0, 1)
_MASK_53 = (1 << 53) - 1
_MASK_64 = (1 << 64) - 1


def plan_answer(u1: float, u2: float, offset: int, req: ChatRequest, s: MockSettings) -> Answer:
    """The answer to ``req``: its length (from ``u1``, ``u2``), its text (from ``offset``) cut into
    chunks, and its finish reason."""
    n = draw_output_tokens(u1, u2, s)
    finish_reason = "stop"
    if req.max_tokens is not None and req.max_tokens < n:
        n = req.max_tokens
        finish_reason = "length"
    temperature = 1.0 if req.temperature is None else req.temperature
    top_p = 1.0 if req.top_p is None else req.top_p
    pieces = draw_pieces(offset, n, chinese=req.chinese, temperature=temperature, top_p=top_p)
    if req.stop:
        pieces, cut = _apply_stop(pieces, req.stop)
        if cut:
            n = len(pieces)
            finish_reason = "stop"
    chunks, chunk_tokens = _chunked(pieces, s.tokens_per_chunk)
    # Whether this answer reasons first: a share of answers, drawn from bits the text does not use.
    if s.reasoning_share > 0 and ((offset >> 11) % 1_000_000) / 1_000_000 < s.reasoning_share:
        r = s.reasoning_tokens
        thought = draw_pieces(offset ^ _MASK_53, r, chinese=req.chinese, temperature=temperature, top_p=top_p)
        r_chunks, r_tokens = _chunked(thought, s.tokens_per_chunk)
        return Answer(
            chunks=r_chunks + chunks,
            chunk_tokens=r_tokens + chunk_tokens,
            output_tokens=n + r,
            finish_reason=finish_reason,
            reasoning_chunks=len(r_chunks),
            reasoning_tokens=r,
        )
    return Answer(chunks=chunks, chunk_tokens=chunk_tokens, output_tokens=n, finish_reason=finish_reason)


def _chunked(pieces: list[str], k: int) -> tuple[list[str], list[int]]:
    """Pieces (one token each) grouped ``k`` to a chunk, with each chunk's token count."""
    n = len(pieces)
    if k == 1:
        return pieces, [1] * n
    return ["".join(pieces[i : i + k]) for i in range(0, n, k)], [min(k, n - i) for i in range(0, n, k)]


def _apply_stop(pieces: list[str], stop: tuple[str, ...]) -> tuple[list[str], bool]:
    """Pieces before the first one at which the text so far contains a stop string."""
    text = ""
    for i, piece in enumerate(pieces):
        text += piece
        if any(s in text for s in stop):
            return pieces[:i], True
    return pieces, False
