"""Random distributions a scenario can name: think times, synthetic prompt lengths, sampling ranges.

Each distribution is a frozen dataclass with ``sample(rng)`` (``rng`` is a ``random.Random``, so a
scenario's seed makes every draw reproducible) and ``to_data()`` (the YAML form it was written in,
for ``scenario.json``). YAML forms:

    3                                    Fixed
    {uniform: [lo, hi]}                  Uniform (ints when integer-valued, inclusive)
    {normal: {mean, stdev, min, max}}    Normal, clipped to [min, max]
    {exponential: {mean}}                Exponential (think times)
    {empirical: [v1, v2, ...]}           one of the listed values, each equally likely
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bench.scenario.checks import Where, join

__all__ = ["Distribution", "Empirical", "Exponential", "Fixed", "Normal", "Uniform", "parse_distribution"]


class Distribution(Protocol):
    """Anything a scenario can draw numbers from."""

    def sample(self, rng: random.Random) -> float: ...

    def to_data(self) -> Any: ...

    @property
    def low(self) -> float: ...

    @property
    def high(self) -> float: ...


@dataclass(frozen=True)
class Fixed:
    value: float

    def sample(self, rng: random.Random) -> float:
        return self.value

    def to_data(self) -> Any:
        return self.value

    @property
    def low(self) -> float:
        return self.value

    @property
    def high(self) -> float:
        return self.value


@dataclass(frozen=True)
class Uniform:
    lo: float
    hi: float
    integer: bool = False

    def sample(self, rng: random.Random) -> float:
        if self.integer:
            return rng.randint(int(self.lo), int(self.hi))
        return rng.uniform(self.lo, self.hi)

    def to_data(self) -> Any:
        return {"uniform": [self.lo, self.hi]}

    @property
    def low(self) -> float:
        return self.lo

    @property
    def high(self) -> float:
        return self.hi


@dataclass(frozen=True)
class Normal:
    mean: float
    stdev: float
    min: float
    max: float
    integer: bool = False

    def sample(self, rng: random.Random) -> float:
        value = min(self.max, max(self.min, rng.gauss(self.mean, self.stdev)))
        return round(value) if self.integer else value

    def to_data(self) -> Any:
        return {"normal": {"mean": self.mean, "stdev": self.stdev, "min": self.min, "max": self.max}}

    @property
    def low(self) -> float:
        return self.min

    @property
    def high(self) -> float:
        return self.max


@dataclass(frozen=True)
class Exponential:
    mean: float

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean) if self.mean > 0 else 0.0

    def to_data(self) -> Any:
        return {"exponential": {"mean": self.mean}}

    @property
    def low(self) -> float:
        return 0.0

    @property
    def high(self) -> float:
        return float("inf")


@dataclass(frozen=True)
class Empirical:
    values: tuple[float, ...]

    def sample(self, rng: random.Random) -> float:
        return rng.choice(self.values)

    def to_data(self) -> Any:
        return {"empirical": list(self.values)}

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def parse_distribution(
    where: Where,
    value: Any,
    key: str,
    *,
    integer: bool,
    lo: float,
    what: str,
    hi: float | None = None,
) -> Distribution:
    """A number, or {uniform: [lo, hi]}, {normal: {mean, stdev, min, max}}, {exponential: {mean}},
    {empirical: [...]}."""
    allowed = "a number, {uniform: [lo, hi]}, {normal: {mean, stdev, min, max}}, {exponential: {mean}} or {empirical: [...]}"
    if not isinstance(value, Mapping):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Fixed(where.number(value, key, lo=lo, hi=hi, integer=integer))
        raise where.error(key, f"expected {what}: {allowed}")
    block = where.mapping(value, key)
    where.known_keys(block, key, ("uniform", "normal", "exponential", "empirical"))
    if len(block) != 1:
        raise where.error(key, f"give exactly one distribution: {allowed}")
    kind, spec = next(iter(block.items()))
    sub = join(key, kind)
    if kind == "uniform":
        bounds = where.list(spec, sub)
        if len(bounds) != 2:
            raise where.error(sub, "expected [low, high]")
        a = where.number(bounds[0], join(sub, 0), lo=lo, hi=hi, integer=integer)
        b = where.number(bounds[1], join(sub, 1), lo=lo, hi=hi, integer=integer)
        if a > b:
            raise where.error(sub, f"low {a:g} is above high {b:g}; expected [low, high]")
        return Uniform(a, b, integer=integer)
    if kind == "empirical":
        values = where.list(spec, sub)
        return Empirical(
            tuple(where.number(v, join(sub, i), lo=lo, hi=hi, integer=integer) for i, v in enumerate(values))
        )
    params = where.mapping(spec, sub)
    if kind == "exponential":
        where.known_keys(params, sub, ("mean",))
        return Exponential(where.number(where.required(params, sub, "mean"), join(sub, "mean"), lo=0))
    where.known_keys(params, sub, ("mean", "stdev", "min", "max"))
    mean = where.number(where.required(params, sub, "mean"), join(sub, "mean"), lo=lo, hi=hi)
    stdev = where.number(where.required(params, sub, "stdev"), join(sub, "stdev"), lo=0)
    low = (
        where.number(params["min"], join(sub, "min"), lo=lo, hi=hi, integer=integer)
        if "min" in params
        else lo
    )
    high = (
        where.number(params["max"], join(sub, "max"), lo=lo, hi=hi, integer=integer)
        if "max" in params
        else min(mean + 4 * stdev, hi if hi is not None else math.inf)
    )
    if low > high:
        raise where.error(sub, f"min {low:g} is above max {high:g}")
    return Normal(mean, stdev, low, high, integer=integer)
