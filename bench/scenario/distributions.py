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

import random
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Distribution", "Empirical", "Exponential", "Fixed", "Normal", "Uniform"]


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
