"""Sampling variation: how each request's temperature, top_p, penalties, max_tokens and stream are drawn.

Each sampling key holds one of four specs (YAML form on the right):

    Fixed     0.7                                   the same value every request
    Choice    {choice: [0, 0.7, 1.0], weights: [..]} a weighted draw per request (weights optional)
    Uniform   {uniform: [0.5, 1.0]}                 a uniform draw per request (ints for max_tokens)
    Grid      {grid: [0, 0.5, 1.0]}                 cycles, request by request, through every
                                                    combination of all grid keys together

``stream`` is ``true``, ``false`` or ``{ratio: 0.3}`` (the share of requests that stream).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.profiles import SAMPLING_RANGES, ApiProfile, RangeSpec
from bench.scenario.checks import Where, join

__all__ = [
    "FLOAT_KEYS",
    "Choice",
    "Expected",
    "Fixed",
    "Grid",
    "SamplingSpec",
    "StreamSpec",
    "Uniform",
    "ValueSpec",
]

FLOAT_KEYS: tuple[str, ...] = tuple(key for key, spec in SAMPLING_RANGES.items() if not spec.integer)
"""Sampling keys sent as JSON floats (the seed document types them ``float``)."""

# Drawn floats are rounded so records and bodies stay readable; 4 decimals is finer than any
# server's sampling behaviour can tell apart.
_DECIMALS = 4


@dataclass(frozen=True)
class Fixed:
    value: float | int | None  # None: the key is not sent (openai profile only)

    def draw(self, rng: random.Random) -> float | int | None:
        return self.value

    def values(self) -> tuple[float | int | None, ...]:
        return (self.value,)

    def to_data(self) -> Any:
        return self.value

    def describe(self) -> str:
        return "not sent" if self.value is None else f"fixed {self.value}"


@dataclass(frozen=True)
class Choice:
    options: tuple[float | int, ...]
    weights: tuple[float, ...] | None = None

    def draw(self, rng: random.Random) -> float | int:
        return rng.choices(self.options, weights=self.weights)[0]

    def values(self) -> tuple[float | int, ...]:
        return self.options

    def to_data(self) -> Any:
        data: dict[str, Any] = {"choice": list(self.options)}
        if self.weights is not None:
            data["weights"] = list(self.weights)
        return data

    def describe(self) -> str:
        if self.weights is None:
            return f"choice of {list(self.options)}"
        return f"choice of {list(self.options)} weights {list(self.weights)}"


@dataclass(frozen=True)
class Uniform:
    lo: float
    hi: float
    integer: bool = False

    def draw(self, rng: random.Random) -> float | int:
        if self.integer:
            return rng.randint(int(self.lo), int(self.hi))
        return round(rng.uniform(self.lo, self.hi), _DECIMALS)

    def values(self) -> tuple[float | int, ...]:
        return (self.lo, self.hi)

    def to_data(self) -> Any:
        return {"uniform": [self.lo, self.hi]}

    def describe(self) -> str:
        return f"uniform in [{self.lo}, {self.hi}]"


@dataclass(frozen=True)
class Grid:
    options: tuple[float | int, ...]

    def values(self) -> tuple[float | int, ...]:
        return self.options

    def to_data(self) -> Any:
        return {"grid": list(self.options)}

    def describe(self) -> str:
        return f"grid {list(self.options)}"


@dataclass(frozen=True)
class Expected:
    """``max_tokens`` only: each conversation's expected output length (a JSONL line's
    ``expected_output_tokens``, a ShareGPT answer's length, a synthetic ``output_tokens`` draw),
    else ``default`` (None: not sent)."""

    default: int | None

    def draw(self, rng: random.Random) -> int | None:
        return self.default

    def values(self) -> tuple[int | None, ...]:
        return (self.default,)

    def to_data(self) -> Any:
        return {"expected": self.default}

    def describe(self) -> str:
        fallback = "not sent" if self.default is None else str(self.default)
        return f"each conversation's expected output length, else {fallback}"


ValueSpec = Fixed | Choice | Uniform | Grid | Expected


@dataclass(frozen=True)
class StreamSpec:
    """Share of requests sent with ``stream: true`` (0: never, 1: always)."""

    ratio: float

    def draw(self, rng: random.Random) -> bool:
        if self.ratio >= 1.0:
            return True
        if self.ratio <= 0.0:
            return False
        return rng.random() < self.ratio

    def to_data(self) -> Any:
        if self.ratio in (0.0, 1.0):
            return self.ratio == 1.0
        return {"ratio": self.ratio}

    def describe(self) -> str:
        if self.ratio in (0.0, 1.0):
            return "always" if self.ratio == 1.0 else "never (stream: false)"
        return f"{self.ratio:.0%} of requests"


@dataclass(frozen=True)
class SamplingSpec:
    """The sampling space of a prompt set (the top-level block merged with the set's own)."""

    params: Mapping[str, ValueSpec] = field(default_factory=dict)  # SAMPLING_KEYS -> spec
    stream: StreamSpec = StreamSpec(1.0)

    @property
    def grid_keys(self) -> tuple[str, ...]:
        return tuple(key for key, spec in self.params.items() if isinstance(spec, Grid))

    def grid_combinations(self) -> tuple[tuple[float | int, ...], ...]:
        """Every combination of the grid keys' values, in ``grid_keys`` order (one empty tuple if none)."""
        specs = [self.params[key] for key in self.grid_keys]
        return tuple(itertools.product(*(spec.values() for spec in specs if isinstance(spec, Grid))))

    def draw(self, rng: random.Random, grid_index: int) -> dict[str, float | int | None]:
        """One request's values: grid keys from combination ``grid_index`` (mod the count), others drawn."""
        drawn: dict[str, float | int | None] = {}
        grid_keys = self.grid_keys
        combo: tuple[float | int, ...] = ()
        if grid_keys:
            combos = self.grid_combinations()
            combo = combos[grid_index % len(combos)]
        for key, spec in self.params.items():
            if isinstance(spec, Grid):
                drawn[key] = combo[grid_keys.index(key)]
            else:
                drawn[key] = spec.draw(rng)
        return drawn

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {key: spec.to_data() for key, spec in self.params.items()}
        data["stream"] = self.stream.to_data()
        return data


# -- parsing (scenario files and per-line JSONL overrides) -------------------------------------

PARAM_RANGES: Mapping[str, RangeSpec] = SAMPLING_RANGES
"""Every sampling key and its range (which of them a profile sends: ``ApiProfile.sampling_keys``)."""


_WORDS = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def check_param_value(where: Where, value: Any, key: str, name: str) -> float | int:
    """One sampling value, range-checked: a float for the float keys, an int for max_tokens."""
    spec = PARAM_RANGES[name]
    if spec.integer:
        return where.integer(value, key, lo=int(spec.lo), hi=int(spec.hi))
    return where.number(value, key, lo=spec.lo, hi=spec.hi, lo_open=spec.lo_open)


def parse_param(where: Where, value: Any, key: str, name: str, profile: ApiProfile) -> ValueSpec:
    """A sampling key's spec from its YAML form (see the module docstring)."""
    if value is None:
        if profile.required:
            raise where.error(
                key,
                f"cannot be null in the {profile.name} profile, which always sends all "
                f"{_WORDS.get(len(profile.body_keys), str(len(profile.body_keys)))} keys",
            )
        return Fixed(None)
    if not isinstance(value, Mapping):
        return Fixed(check_param_value(where, value, key, name))
    spec = where.mapping(value, key)
    forms = (
        ("choice", "uniform", "grid", "expected") if name == "max_tokens" else ("choice", "uniform", "grid")
    )
    where.known_keys(spec, key, (*forms, "weights"))
    kinds = [k for k in forms if k in spec]
    if len(kinds) != 1:
        raise where.error(key, f"give exactly one of {', '.join(forms)} (or a plain number)")
    kind = kinds[0]
    if kind == "expected":
        if len(spec) != 1:
            raise where.error(key, "expected takes no other key: {expected: DEFAULT}")
        default = spec[kind]
        if default is None:
            return Expected(None)
        return Expected(int(check_param_value(where, default, join(key, kind), name)))
    sub = join(key, kind)
    if "weights" in spec and kind != "choice":
        raise where.error(join(key, "weights"), "weights go with choice only")
    if kind == "uniform":
        bounds = where.list(spec[kind], sub)
        if len(bounds) != 2:
            raise where.error(sub, "expected [low, high]")
        lo = check_param_value(where, bounds[0], join(sub, 0), name)
        hi = check_param_value(where, bounds[1], join(sub, 1), name)
        if lo > hi:
            raise where.error(sub, f"low {lo} is above high {hi}; expected [low, high]")
        return Uniform(lo, hi, integer=name == "max_tokens")
    options = tuple(
        check_param_value(where, v, join(sub, i), name) for i, v in enumerate(where.list(spec[kind], sub))
    )
    if kind == "grid":
        return Grid(options)
    weights = None
    if "weights" in spec:
        wkey = join(key, "weights")
        raw = where.list(spec["weights"], wkey)
        if len(raw) != len(options):
            raise where.error(wkey, f"has {len(raw)} weights for {len(options)} choices; give one per choice")
        weights = tuple(where.number(w, join(wkey, i), lo=0) for i, w in enumerate(raw))
        if sum(weights) <= 0:
            raise where.error(wkey, "at least one weight must be above 0")
    return Choice(options, weights)


def parse_stream(where: Where, value: Any, key: str) -> StreamSpec:
    if isinstance(value, bool):
        return StreamSpec(1.0 if value else 0.0)
    if isinstance(value, Mapping):
        spec = where.mapping(value, key)
        where.known_keys(spec, key, ("ratio",))
        ratio = where.number(where.required(spec, key, "ratio"), join(key, "ratio"), lo=0, hi=1)
        return StreamSpec(ratio)
    raise where.error(key, "expected true, false or {ratio: R} with R in [0, 1] (the share that streams)")


def parse_sampling(
    where: Where, raw: Any, key: str, profile: ApiProfile, base: SamplingSpec | None = None
) -> SamplingSpec:
    """A sampling block, on top of ``base`` (the top-level block) or of the profile's defaults."""
    if base is None:
        params: dict[str, ValueSpec] = {name: Fixed(value) for name, value in profile.defaults.items()}
        stream = StreamSpec(1.0 if profile.stream_default else 0.0)
    else:
        params, stream = dict(base.params), base.stream
    if raw is None:
        return SamplingSpec(params, stream)
    block = where.mapping(raw, key)
    where.known_keys(block, key, (*PARAM_RANGES, "stream"))
    for name in PARAM_RANGES:
        if name not in block:
            continue
        if name not in profile.sampling_keys:
            raise where.error(join(key, name), profile.refusal(name))
        params[name] = parse_param(where, block[name], join(key, name), name, profile)
    if "stream" in block:
        stream = parse_stream(where, block["stream"], join(key, "stream"))
    ordered = {name: params[name] for name in PARAM_RANGES if name in params}
    return SamplingSpec(ordered, stream)
