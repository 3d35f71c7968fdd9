"""Every setting of the embedded mock server, in one frozen dataclass.

``MockSettings`` is built three ways: from ``chatbench mock`` flags (one flag per field, its help taken
from the field's metadata), from a scenario file's ``mock:`` block (``MockSettings.from_mapping``), and
in code. ``to_args()`` turns settings back into flags, which is how ``start_mock`` hands them to the
subprocess. This module imports only the standard library (and the standard-library-only profile registry).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from bench.errors import MockError, ScenarioError
from bench.profiles import get_profile, profile_names

__all__ = ["FAULT_KINDS", "OUTPUT_DISTRIBUTIONS", "PROBE_REQUEST_ID", "PROFILES", "FaultKind", "MockSettings"]

PROFILES: tuple[str, ...] = profile_names()

PROBE_REQUEST_ID = "chatbench-probe"
"""The ``X-Request-Id`` of chatbench's pre-load probe request: the mock answers it as any other but
keeps it out of the truth log, which is the ground truth of the load's own requests."""

OutputDistribution = Literal["fixed", "uniform", "normal", "lognormal", "exponential"]
OUTPUT_DISTRIBUTIONS: tuple[str, ...] = get_args(OutputDistribution)

FaultKind = Literal[
    "http_500",
    "http_429",
    "http_503",
    "reset_before_headers",
    "reset_mid_stream",
    "bad_json_chunk",
    "no_done",
    "stall",
    "slow_headers",
    "not_json",
    "close_after_request",
    "trickle_headers",
    "text_plain_stream",
    "http10_close",
    "oversized",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


def _opt(
    help: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: Sequence[str] | None = None,
    metavar: str | None = None,
) -> dict[str, Any]:
    return {"help": help, "lo": lo, "hi": hi, "choices": choices, "metavar": metavar}


def _fault(what: str) -> Any:
    return field(default=0.0, metadata=_opt(f"rate (0..1) of requests that get {what}", lo=0.0, hi=1.0))


@dataclass(frozen=True)
class MockSettings:
    """How the mock listens, which API it speaks, how fast it serves and which faults it injects.

    The defaults give a quick but interesting quickstart: 8 batch slots, about 40 ms to the first
    token, 15 ms per output token and about 64 output tokens, so a few users already meet the queue.
    """

    host: str = field(default="127.0.0.1", metadata=_opt("address to bind (stay on 127.0.0.1 unless needed)"))
    port: int = field(default=9000, metadata=_opt("TCP port; 0 picks a free one (printed)", lo=0, hi=65535))
    model: str = field(default="o", metadata=_opt("model id served (/v1/models; other ids get 404)"))
    profile: str = field(
        default="seed",
        metadata=_opt(
            "API profile (the body keys it accepts): "
            + "; ".join(get_profile(name).help for name in PROFILES),
            choices=PROFILES,
        ),
    )
    strict: bool = field(default=False, metadata=_opt("reject unknown body keys with HTTP 400"))
    # The serving model.
    batch_slots: int = field(
        default=8,
        metadata=_opt("sequences served at once (continuous batching); more wait in a FIFO queue", lo=1),
    )
    prefill_base_ms: float = field(
        default=30.0, metadata=_opt("fixed prefill time of a request, ms (part of TTFT)", lo=0.0)
    )
    prefill_per_token_ms: float = field(
        default=0.1, metadata=_opt("prefill time per prompt token, ms (part of TTFT)", lo=0.0)
    )
    tpot_ms: float = field(
        default=15.0, metadata=_opt("time per output token with one sequence decoding, ms", lo=0.0)
    )
    batch_slowdown: float = field(
        default=0.05,
        metadata=_opt(
            "per-token time grows by this fraction per extra sequence decoding: "
            "tpot_ms * (1 + batch_slowdown * (active - 1))",
            lo=0.0,
        ),
    )
    output_dist: OutputDistribution = field(
        default="normal",
        metadata=_opt("distribution of the output length in tokens", choices=OUTPUT_DISTRIBUTIONS),
    )
    output_tokens: int = field(
        default=64, metadata=_opt("output length (fixed) or its mean (other distributions)", lo=1)
    )
    output_tokens_std: float = field(
        default=16.0, metadata=_opt("standard deviation of the output length (normal, lognormal)", lo=0.0)
    )
    output_tokens_min: int = field(
        default=8, metadata=_opt("shortest output (uniform: the low end; others: clipped)", lo=1)
    )
    output_tokens_max: int = field(
        default=128, metadata=_opt("longest output (uniform: the high end; others: clipped)", lo=1)
    )
    tokens_per_chunk: int = field(
        default=1,
        metadata=_opt("tokens per SSE chunk (>1 behaves like speculative decoding bursts)", lo=1),
    )
    # The prefix cache: a bounded LRU of prompt blocks; prefill skips the cached leading blocks.
    prefix_cache_blocks: int = field(
        default=0,
        metadata=_opt(
            "prompt blocks the prefix cache keeps (least recently used evicted; 0: no cache). A request's "
            "leading blocks already cached are reported as usage.prompt_tokens_details.cached_tokens "
            "and skip prefill_per_token_ms",
            lo=0,
        ),
    )
    prefix_block_tokens: int = field(
        default=16, metadata=_opt("tokens per prefix-cache block (vLLM's default block size)", lo=1)
    )
    # Reasoning: a share of answers think first (delta.reasoning_content), then answer.
    reasoning_share: float = field(
        default=0.0,
        metadata=_opt(
            "share (0..1) of answers that start with reasoning_content chunks "
            "(usage.completion_tokens_details.reasoning_tokens)",
            lo=0.0,
            hi=1.0,
        ),
    )
    reasoning_tokens: int = field(
        default=32, metadata=_opt("reasoning tokens of an answer that reasons (before its content)", lo=1)
    )
    seed: int = field(default=0, metadata=_opt("seed of every random draw (lengths, text, faults)"))
    # Faults: each drawn per request from a seeded RNG; X-Mock-Fault: <kind> forces one.
    fault_http_500: float = _fault("HTTP 500")
    fault_http_429: float = _fault("HTTP 429 with Retry-After")
    fault_http_503: float = _fault("HTTP 503")
    fault_reset_before_headers: float = _fault("a connection reset before any response byte")
    fault_reset_mid_stream: float = _fault("a connection reset halfway through the answer")
    fault_bad_json_chunk: float = _fault("a malformed JSON chunk halfway through the stream")
    fault_no_done: float = _fault("a stream that ends without 'data: [DONE]'")
    fault_stall: float = _fault("a stall of --stall-s before any response byte")
    fault_slow_headers: float = _fault("response headers delayed by --slow-headers-ms")
    fault_not_json: float = _fault("a 200 whose body is not JSON")
    fault_close_after_request: float = _fault(
        "the connection closed right after the request (no answer byte)"
    )
    fault_trickle_headers: float = _fault("response headers written one byte per --trickle-ms")
    fault_text_plain_stream: float = _fault("a stream sent as text/plain (plain answers are unchanged)")
    fault_http10_close: float = _fault("a valid HTTP/1.0 answer whose body ends when the connection closes")
    fault_oversized: float = _fault(
        "an answer that never ends (a body or a stream), until the client hangs up"
    )
    stall_s: float = field(
        default=90.0, metadata=_opt("length of a 'stall' fault, s (longer than the client's timeout)", lo=0.0)
    )
    slow_headers_ms: float = field(
        default=2000.0, metadata=_opt("delay of a 'slow_headers' fault, ms", lo=0.0)
    )
    trickle_ms: float = field(
        default=50.0,
        metadata=_opt("a 'trickle_headers' fault writes one header byte every this many ms", lo=0.0),
    )
    retry_after_s: int = field(default=1, metadata=_opt("Retry-After header of an HTTP 429, s", lo=0))
    truth_log: str | None = field(
        default=None,
        metadata=_opt("write one JSON line of ground truth per request to this file", metavar="PATH"),
    )

    def __post_init__(self) -> None:
        problem = _first_problem(self)
        if problem is not None:
            name, message = problem
            raise MockError(f"--{name.replace('_', '-')}: {message}")

    def fault_rates(self) -> dict[str, float]:
        """Fault kind -> rate, for the kinds with a rate above zero."""
        rates = {kind: getattr(self, f"fault_{kind}") for kind in FAULT_KINDS}
        return {kind: rate for kind, rate in rates.items() if rate > 0}

    def to_args(self) -> list[str]:
        """The ``chatbench mock`` flags that rebuild these settings (only those that differ from defaults)."""
        args: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            flag = "--" + f.name.replace("_", "-")
            if f.type in ("bool",):
                if value:
                    args.append(flag)
                continue
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
        return args

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "mock") -> MockSettings:
        """Settings from a scenario file's ``mock:`` block; a bad key raises ``ScenarioError`` naming it."""
        if not isinstance(data, Mapping):
            raise ScenarioError("must be a mapping of mock settings (or {})", key=where)
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            path = f"{where}.{key}"
            f = known.get(str(key))
            if f is None:
                raise ScenarioError(f"unknown mock setting; allowed: {', '.join(known)}", key=path)
            values[f.name] = _coerce(f, value, path)
        problem = _first_problem(_unchecked(values))
        if problem is not None:
            raise ScenarioError(problem[1], key=f"{where}.{problem[0]}")
        return cls(**values)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per field, with the field's help and default."""
        for f in fields(cls):
            meta = f.metadata
            flag = "--" + f.name.replace("_", "-")
            text = meta["help"]
            if f.type == "bool":
                parser.add_argument(flag, action="store_true", dest=f.name, help=text)
                continue
            if f.default is not None:
                text += " (default: %(default)s)"
            kwargs: dict[str, Any] = {"dest": f.name, "default": f.default, "help": text}
            if meta["choices"]:
                kwargs["choices"] = list(meta["choices"])
            else:
                kwargs["type"] = _PARSERS.get(str(f.type), str)
                kwargs["metavar"] = meta["metavar"] or _METAVARS.get(str(f.type), "TEXT")
            parser.add_argument(flag, **kwargs)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> MockSettings:
        """Settings from parsed ``chatbench mock`` flags (added by ``add_arguments``)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


_PARSERS: dict[str, Any] = {"int": int, "float": float}
_METAVARS = {"int": "N", "float": "X"}


def _coerce(f: dataclasses.Field[Any], value: Any, path: str) -> Any:
    kind = str(f.type)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ScenarioError(f"must be true or false, not {value!r}", key=path)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"must be an integer, not {value!r}", key=path)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"must be a number, not {value!r}", key=path)
        return float(value)
    if kind == "str | None":
        if value is not None and not isinstance(value, str):
            raise ScenarioError(f"must be a string or null, not {value!r}", key=path)
        return value
    if not isinstance(value, str):
        raise ScenarioError(f"must be a string, not {value!r}", key=path)
    return value


def _first_problem(s: MockSettings) -> tuple[str, str] | None:
    """(field name, what is wrong) for the first bad value, or None."""
    for f in fields(s):
        meta = f.metadata
        value = getattr(s, f.name)
        if meta["choices"] and value not in meta["choices"]:
            return f.name, f"must be one of {', '.join(meta['choices'])}, not {value!r}"
        if isinstance(value, float) and not math.isfinite(value):
            return f.name, f"must be a finite number, not {value!r}"
        if meta["lo"] is not None and value < meta["lo"]:
            return f.name, f"must be at least {meta['lo']:g}, not {value!r}"
        if meta["hi"] is not None and value > meta["hi"]:
            return f.name, f"must be at most {meta['hi']:g}, not {value!r}"
    if s.output_tokens_min > s.output_tokens_max:
        return "output_tokens_min", (
            f"must not exceed output_tokens_max ({s.output_tokens_max}), not {s.output_tokens_min}"
        )
    if sum(s.fault_rates().values()) > 1.0 + 1e-9:
        return "fault_*", "the fault rates together must not exceed 1"
    return None


def _unchecked(values: Mapping[str, Any]) -> MockSettings:
    """Settings built without ``__post_init__``, so ``from_mapping`` can report a bad value by its key."""
    instance = object.__new__(MockSettings)
    for f in fields(MockSettings):
        object.__setattr__(instance, f.name, values.get(f.name, f.default))
    return instance
