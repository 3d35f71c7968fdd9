"""The ``sweep`` and ``planning`` blocks: the load levels of a capacity sweep and what planning aims at."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any, Literal

from bench.scenario.checks import Where, join

__all__ = ["Planning", "Sweep", "parse_planning", "parse_sweep"]


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


def parse_sweep(where: Where, raw: Any) -> Sweep:
    """The ``sweep`` block; its defaults are ``Sweep``'s field defaults."""
    key = "sweep"
    block = where.mapping(raw, key)
    where.known_keys(block, key, [f.name for f in fields(Sweep)])
    default = {f.name: f.default for f in fields(Sweep)}
    mode = where.choice(block.get("mode", "concurrency"), join(key, "mode"), ("concurrency", "rate"))
    lkey = join(key, "levels")
    levels = tuple(
        where.number(v, join(lkey, i), lo=0, lo_open=True, integer=mode == "concurrency")
        for i, v in enumerate(where.list(where.required(block, key, "levels"), lkey))
    )
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise where.error(lkey, f"levels must increase strictly, got {list(levels)}")
    step = where.duration(
        block.get("step_duration_s", default["step_duration_s"]), join(key, "step_duration_s")
    )
    warmup = where.duration(block.get("warmup_s", default["warmup_s"]), join(key, "warmup_s"), positive=False)
    if warmup >= step:
        raise where.error(
            join(key, "warmup_s"), f"{warmup:g} s must be shorter than step_duration_s ({step:g} s)"
        )
    return Sweep(
        mode=mode,  # type: ignore[arg-type]
        levels=levels,
        step_duration_s=step,
        warmup_s=warmup,
        stop_error_rate=where.number(
            block.get("stop_error_rate", default["stop_error_rate"]),
            join(key, "stop_error_rate"),
            lo=0,
            hi=1,
            lo_open=True,
        ),
        stop_latency_factor=where.number(
            block.get("stop_latency_factor", default["stop_latency_factor"]),
            join(key, "stop_latency_factor"),
            lo=1,
            lo_open=True,
        ),
    )


def parse_planning(where: Where, raw: Any) -> Planning:
    """The ``planning`` block; its defaults are ``Planning``'s field defaults."""
    key = "planning"
    block = where.mapping(raw, key)
    where.known_keys(block, key, [f.name for f in fields(Planning)])
    return Planning(
        target_users=where.integer(block["target_users"], join(key, "target_users"), lo=1)
        if block.get("target_users") is not None
        else None,
        target_rps=where.number(block["target_rps"], join(key, "target_rps"), lo=0, lo_open=True)
        if block.get("target_rps") is not None
        else None,
        headroom=where.number(block.get("headroom", Planning.headroom), join(key, "headroom"), lo=0, hi=0.95),
    )
