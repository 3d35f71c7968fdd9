"""The resolved scenario: frozen dataclasses that ``bench.scenario.loader`` builds from a YAML file.

Everything here is already validated and has its defaults filled in; the load side, the gates and
the report read these, never the raw YAML. ``Scenario.to_dict()`` is what ``scenario.json`` holds:
plain JSON-able data without secrets (the API key's value is never stored, only its env var name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.scenario.distributions import Distribution, Fixed
from bench.scenario.plan import Conversation
from bench.scenario.sampling import SamplingSpec

__all__ = [
    "METRICS",
    "STATS",
    "Arrival",
    "Load",
    "Planning",
    "PromptSet",
    "Scenario",
    "Slo",
    "SloThreshold",
    "Stage",
    "Sweep",
    "SyntheticSpec",
    "Target",
    "Timeouts",
]

Profile = Literal["seed", "openai"]
METRICS: tuple[str, ...] = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms")
STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p99.9", "mean", "max")
SEED_BODY_KEYS: tuple[str, ...] = (
    "model",
    "messages",
    "stream",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
)
"""The seven keys the seed server documents; in the ``seed`` profile a body holds exactly these."""

# Header names whose values are credentials: shown as "***" in to_dict() and repr.
_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "cookie", "proxy-authorization")


def _redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: ("***" if name.lower() in _SECRET_HEADERS else value) for name, value in headers.items()}


@dataclass(frozen=True)
class Timeouts:
    """Per-request time limits, in seconds."""

    connect_s: float = 5.0
    first_byte_s: float = 60.0
    total_s: float = 300.0


@dataclass(frozen=True)
class Target:
    """The server under test (``base_url`` None: start the embedded mock for the run)."""

    base_url: str | None = None
    path: str = "/v1/chat/completions"
    model: str = "o"
    profile: Profile = "seed"
    headers: Mapping[str, str] = field(default_factory=dict)
    api_key_env: str | None = None
    # Resolved from the environment at load time; never written anywhere (see __repr__, to_dict).
    api_key: str | None = field(default=None, repr=False)
    timeouts: Timeouts = Timeouts()
    tokenizer: Path | None = None

    def __repr__(self) -> str:
        return (
            f"Target(base_url={self.base_url!r}, path={self.path!r}, model={self.model!r}, "
            f"profile={self.profile!r}, headers={_redact_headers(self.headers)!r}, "
            f"api_key_env={self.api_key_env!r}, api_key={'***' if self.api_key else None}, "
            f"timeouts={self.timeouts!r}, tokenizer={self.tokenizer!r})"
        )

    @property
    def url(self) -> str | None:
        """The full request URL, or None when the embedded mock will be started."""
        return None if self.base_url is None else self.base_url.rstrip("/") + self.path

    def request_headers(self) -> dict[str, str]:
        """The headers to send: the scenario's own plus ``Authorization: Bearer`` when a key is set."""
        headers = {"Content-Type": "application/json", **self.headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "path": self.path,
            "model": self.model,
            "profile": self.profile,
            "headers": _redact_headers(self.headers),
            "api_key_env": self.api_key_env,
            "timeouts": {
                "connect_s": self.timeouts.connect_s,
                "first_byte_s": self.timeouts.first_byte_s,
                "total_s": self.timeouts.total_s,
            },
            "tokenizer": None if self.tokenizer is None else str(self.tokenizer),
        }


@dataclass(frozen=True)
class SyntheticSpec:
    """Generated prompts of a target length in tokens, from a word source."""

    language: Literal["en", "zh"]
    prompt_tokens: Distribution
    words_file: Path | None = None
    count: int | None = None  # a fixed pool of this many prompts; None: a fresh prompt every time
    turns: int = 1  # user turns per conversation
    system: str | None = None
    output_tokens: Distribution | None = None  # expected output length, carried on each conversation
    # A shared start of every first user message (generated once from the scenario seed): lets a
    # run show what a server's prefix cache does. Counted within prompt_tokens.
    prefix_tokens: int = 0
    prefix: str = ""

    def to_data(self) -> dict[str, Any]:
        return {
            "prefix_tokens": self.prefix_tokens,
            "language": self.language,
            "prompt_tokens": self.prompt_tokens.to_data(),
            "words_file": None if self.words_file is None else str(self.words_file),
            "count": self.count,
            "turns": self.turns,
            "system": self.system,
            "output_tokens": None if self.output_tokens is None else self.output_tokens.to_data(),
        }


@dataclass(frozen=True)
class PromptSet:
    """One weighted source of conversations."""

    name: str
    weight: float
    source: Literal["inline", "jsonl", "sharegpt", "synthetic"]
    sampling: SamplingSpec  # effective: the top-level block with this set's own keys on top
    multi_turn: bool = False
    path: Path | None = None  # the jsonl/sharegpt file
    conversations: tuple[Conversation, ...] = ()  # empty only for a synthetic set without a pool
    synthetic: SyntheticSpec | None = None
    own_sampling: bool = False  # the set has a sampling block of its own

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "weight": self.weight,
            "source": self.source,
            "multi_turn": self.multi_turn,
            "path": None if self.path is None else str(self.path),
            "conversations": len(self.conversations),
            "sampling": self.sampling.to_data(),
        }
        if self.synthetic is not None:
            data["synthetic"] = self.synthetic.to_data()
        return data


@dataclass(frozen=True)
class Stage:
    """A stretch of the run at a given user count (closed loop) or arrival rate (open loop)."""

    duration_s: float
    users: int
    spawn_rate: float
    rate_rps: float | None = None


@dataclass(frozen=True)
class Arrival:
    """Open-loop arrivals: requests start on a schedule whatever the server's speed."""

    rate_rps: float
    process: Literal["poisson", "constant", "gamma"] = "poisson"
    burstiness: float = 1.0  # gamma shape: 1 is Poisson, below 1 burstier, above 1 smoother
    max_inflight: int | None = None


@dataclass(frozen=True)
class Load:
    """The load shape. ``stages`` is never empty: walk it."""

    users: int
    spawn_rate: float
    duration_s: float
    think_time_s: float | Distribution
    stages: tuple[Stage, ...]
    arrival: Arrival | None = None
    max_requests: int | None = None
    stages_given: bool = False  # the file had a stages list (vs. one derived stage)

    @property
    def total_duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    @property
    def max_users(self) -> int:
        return max(stage.users for stage in self.stages)

    def think_time(self) -> Distribution:
        """The think time as a distribution (a plain number becomes ``Fixed``)."""
        if isinstance(self.think_time_s, (int, float)):
            return Fixed(float(self.think_time_s))
        return self.think_time_s

    def to_dict(self) -> dict[str, Any]:
        think = self.think_time_s
        return {
            "users": self.users,
            "spawn_rate": self.spawn_rate,
            "duration_s": self.duration_s,
            "think_time_s": think if isinstance(think, (int, float)) else think.to_data(),
            "stages": [
                {
                    "duration_s": s.duration_s,
                    "users": s.users,
                    "spawn_rate": s.spawn_rate,
                    "rate_rps": s.rate_rps,
                }
                for s in self.stages
            ],
            "arrival": None
            if self.arrival is None
            else {
                "rate_rps": self.arrival.rate_rps,
                "process": self.arrival.process,
                "burstiness": self.arrival.burstiness,
                "max_inflight": self.arrival.max_inflight,
            },
            "max_requests": self.max_requests,
        }


@dataclass(frozen=True)
class SloThreshold:
    """``stat`` of ``metric`` over the run must be at most ``limit`` (same unit as the metric)."""

    metric: str  # one of METRICS
    stat: str  # one of STATS
    limit: float


@dataclass(frozen=True)
class Slo:
    thresholds: tuple[SloThreshold, ...] = ()
    error_rate: float | None = None  # failed requests / all requests, at most this

    @property
    def empty(self) -> bool:
        return not self.thresholds and self.error_rate is None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for t in self.thresholds:
            data.setdefault(t.metric, {})[t.stat] = t.limit
        if self.error_rate is not None:
            data["error_rate"] = self.error_rate
        return data


@dataclass(frozen=True)
class Sweep:
    """A capacity sweep: one step per level, stopping early when the server is clearly past saturation."""

    mode: Literal["concurrency", "rate"]
    levels: tuple[float, ...]
    step_duration_s: float = 20.0
    warmup_s: float = 5.0
    stop_error_rate: float = 0.5
    stop_latency_factor: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "levels": list(self.levels),
            "step_duration_s": self.step_duration_s,
            "warmup_s": self.warmup_s,
            "stop_error_rate": self.stop_error_rate,
            "stop_latency_factor": self.stop_latency_factor,
        }


@dataclass(frozen=True)
class Planning:
    """What capacity planning aims at: a user count or a request rate, with a safety margin."""

    target_users: int | None = None
    target_rps: float | None = None
    headroom: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_users": self.target_users,
            "target_rps": self.target_rps,
            "headroom": self.headroom,
        }


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path | None
    description: str
    seed: int
    target: Target
    mock: Mapping[str, Any]
    prompt_sets: tuple[PromptSet, ...]
    sampling: SamplingSpec
    load: Load
    slo: Slo
    sweep: Sweep | None = None
    planning: Planning | None = None

    def prompt_set(self, name: str) -> PromptSet | None:
        return next((s for s in self.prompt_sets if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain JSON-able data, without secrets."""
        return {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "description": self.description,
            "seed": self.seed,
            "target": self.target.to_dict(),
            "mock": dict(self.mock),
            "prompt_sets": [s.to_dict() for s in self.prompt_sets],
            "sampling": self.sampling.to_data(),
            "load": self.load.to_dict(),
            "slo": self.slo.to_dict(),
            "sweep": None if self.sweep is None else self.sweep.to_dict(),
            "planning": None if self.planning is None else self.planning.to_dict(),
        }
