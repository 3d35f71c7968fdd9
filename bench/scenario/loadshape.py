"""The ``load`` block: users, stages, think time and open-loop arrivals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from bench.scenario.cancel import Cancel, parse_cancel
from bench.scenario.checks import Where, join
from bench.scenario.distributions import Distribution, Fixed, parse_distribution

__all__ = ["MAX_USERS", "Arrival", "Load", "Stage", "parse_load"]

MAX_USERS = 1_000_000
PROCESSES = ("poisson", "constant", "gamma")
_LOAD_KEYS = (
    "users",
    "spawn_rate",
    "duration_s",
    "think_time_s",
    "stages",
    "arrival",
    "max_requests",
    "warmup_s",
    "cooldown_s",
    "cancel",
)


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
    # One of PROCESSES, or "trace": the prompt set's own schedule (a trace source sets it).
    process: Literal["poisson", "constant", "gamma", "trace"] = "poisson"
    burstiness: float = 1.0  # gamma shape: 1 is Poisson, below 1 burstier, above 1 smoother
    max_inflight: int | None = None


@dataclass(frozen=True)
class Load:
    """The load shape. ``stages`` is never empty: walk it."""

    users: int = 4
    spawn_rate: float = 4.0  # in a file without spawn_rate: the user count (all start within a second)
    duration_s: float = 30.0
    think_time_s: float | Distribution = 0.0
    stages: tuple[Stage, ...] = ()
    arrival: Arrival | None = None
    max_requests: int | None = None
    stages_given: bool = False  # the file had a stages list (vs. one derived stage)
    warmup_s: float = 0.0  # after the spawn ramp, left out of the steady-state window
    cooldown_s: float = 0.0  # before the load stops, left out of the steady-state window
    cancel: Cancel | None = None  # requests the client abandons on purpose (bench.scenario.cancel)
    overrun_s: float = 0.0  # a trace without its own duration: how long past the plan its rows may take

    @property
    def total_duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    @property
    def longest_s(self) -> float:
        """The longest the load can be offered: the plan, plus a trace's overrun (``for_schedule``)."""
        return self.total_duration_s + self.overrun_s

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
            "warmup_s": self.warmup_s,
            "cooldown_s": self.cooldown_s,
            "cancel": None if self.cancel is None else self.cancel.to_dict(),
            "overrun_s": self.overrun_s,
        }


def with_overrides(load: Load, given: Mapping[str, Any], *, file_spawn_rate: bool) -> Load:
    """``load`` with the command line's/environment's load values on top (they replace the file's
    stages with one stage); ``file_spawn_rate``: the file set ``load.spawn_rate`` itself."""
    users, spawn_rate, duration_s = load.users, load.spawn_rate, load.duration_s
    stages, stages_given, arrival = load.stages, load.stages_given, load.arrival
    if any(k in given for k in ("users", "spawn_rate", "duration_s")):
        if "users" in given:
            users = given["users"]
            if not file_spawn_rate:
                spawn_rate = float(users)  # the default: every user starts within a second
        spawn_rate = given.get("spawn_rate", spawn_rate)
        duration_s = given.get("duration_s", duration_s)
        stages, stages_given = (), False
    if "rate_rps" in given:
        rate_rps = given["rate_rps"]
        arrival = Arrival(rate_rps) if arrival is None else replace(arrival, rate_rps=rate_rps)
        stages = tuple(replace(stage, rate_rps=rate_rps) for stage in stages)
    if not stages:
        stages = (Stage(duration_s, users, spawn_rate, None if arrival is None else arrival.rate_rps),)
    return replace(
        load,
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration_s if not stages_given else sum(s.duration_s for s in stages),
        stages=stages,
        arrival=arrival,
        stages_given=stages_given,
    )


REPLAY_LEAD_S = 1.0
"""A replay starts this long after its step begins, so every load-generator process is up by then."""


def for_schedule(where: Where, load: Load, raw: Any, times_s: list[float], *, duration_given: bool) -> Load:
    """``load`` for a prompt set that carries its own send times (a trace): open loop on that
    schedule, one stage as long as the trace (plus ``REPLAY_LEAD_S``) unless the file says how long.

    A trace without its own duration is sent in full: a load generator that cannot keep up sends
    late (its lag is recorded), and the stage runs on past its plan until every row is sent, for at
    most as long again (``overrun_s``). Rows still unsent then are counted in ``run.json``
    (``schedule.rows_unsent``) and named in the summary's warnings. A file's own ``duration_s`` cuts
    the trace there, as asked."""
    block = raw if isinstance(raw, Mapping) else {}
    for name in ("arrival", "stages", "users", "think_time_s"):
        if block.get(name) is not None:
            raise where.error(
                join("load", name),
                "a trace sets the arrivals itself; remove this key (or the trace prompt set)",
            )
    span_s = max(times_s) if times_s else 0.0
    duration_s = load.duration_s if duration_given else REPLAY_LEAD_S + span_s + 0.5
    rate = len(times_s) / max(span_s, 1e-3)
    arrival = Arrival(rate, "trace", max_inflight=load.arrival.max_inflight if load.arrival else None)
    return replace(
        load,
        users=1,
        spawn_rate=1.0,
        duration_s=duration_s,
        stages=(Stage(duration_s, 1, 1.0, rate),),
        arrival=arrival,
        stages_given=False,
        overrun_s=0.0 if duration_given else duration_s,
    )


def parse_load(where: Where, raw: Any) -> Load:
    """The ``load`` block; its defaults are ``Load``'s field defaults."""
    key = "load"
    block = where.mapping(raw, key) if raw is not None else {}
    where.known_keys(block, key, _LOAD_KEYS)
    default = {f.name: f.default for f in fields(Load)}
    users = where.integer(block.get("users", default["users"]), join(key, "users"), lo=1, hi=MAX_USERS)
    spawn_rate = (
        where.number(block["spawn_rate"], join(key, "spawn_rate"), lo=0, lo_open=True)
        if block.get("spawn_rate") is not None
        else float(users)
    )
    duration_s = where.duration(block.get("duration_s", default["duration_s"]), join(key, "duration_s"))
    think: float | Distribution = 0.0
    if block.get("think_time_s") is not None:
        dist = parse_distribution(
            where,
            block["think_time_s"],
            join(key, "think_time_s"),
            integer=False,
            lo=0,
            what="a think time in seconds",
        )
        think = dist.value if isinstance(dist, Fixed) else dist
    arrival = None
    if block.get("arrival") is not None:
        arrival = parse_arrival(where, block["arrival"], join(key, "arrival"))
    max_requests = (
        where.integer(block["max_requests"], join(key, "max_requests"), lo=1)
        if block.get("max_requests") is not None
        else None
    )
    stages: tuple[Stage, ...] = ()
    if block.get("stages") is not None:
        skey = join(key, "stages")
        parsed = []
        for i, item in enumerate(where.list(block["stages"], skey)):
            ikey = join(skey, i)
            st = where.mapping(item, ikey)
            where.known_keys(st, ikey, ("duration_s", "users", "spawn_rate", "rate_rps"))
            st_users = where.integer(
                where.required(st, ikey, "users"), join(ikey, "users"), lo=0, hi=MAX_USERS
            )
            rate = None
            if st.get("rate_rps") is not None:
                if arrival is None:
                    raise where.error(
                        join(ikey, "rate_rps"), "a stage rate needs an open-loop load.arrival block"
                    )
                rate = where.number(st["rate_rps"], join(ikey, "rate_rps"), lo=0, lo_open=True)
            elif arrival is not None:
                rate = arrival.rate_rps
            parsed.append(
                Stage(
                    duration_s=where.duration(
                        where.required(st, ikey, "duration_s"), join(ikey, "duration_s")
                    ),
                    users=st_users,
                    spawn_rate=where.number(st["spawn_rate"], join(ikey, "spawn_rate"), lo=0, lo_open=True)
                    if st.get("spawn_rate") is not None
                    else spawn_rate,
                    rate_rps=rate,
                )
            )
        if all(stage.users == 0 for stage in parsed):
            raise where.error(skey, "every stage has 0 users; at least one stage needs users")
        stages = tuple(parsed)
    stages_given = bool(stages)
    if not stages:
        stages = (Stage(duration_s, users, spawn_rate, None if arrival is None else arrival.rate_rps),)
    warmup_s = where.duration(block.get("warmup_s", 0), join(key, "warmup_s"), positive=False)
    cooldown_s = where.duration(block.get("cooldown_s", 0), join(key, "cooldown_s"), positive=False)
    total_s = sum(stage.duration_s for stage in stages)
    if (warmup_s or cooldown_s) and warmup_s + cooldown_s >= total_s:
        raise where.error(
            join(key, "warmup_s" if warmup_s else "cooldown_s"),
            f"warmup_s + cooldown_s ({warmup_s + cooldown_s:g} s) leave nothing of the {total_s:g} s of "
            "load to measure; make them shorter",
        )
    return Load(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration_s if not stages_given else sum(s.duration_s for s in stages),
        think_time_s=think,
        stages=stages,
        arrival=arrival,
        max_requests=max_requests,
        stages_given=stages_given,
        warmup_s=warmup_s,
        cooldown_s=cooldown_s,
        cancel=parse_cancel(where, block["cancel"], join(key, "cancel"))
        if block.get("cancel") is not None
        else None,
    )


def parse_arrival(where: Where, raw: Any, key: str) -> Arrival:
    block = where.mapping(raw, key)
    where.known_keys(block, key, [f.name for f in fields(Arrival)])
    rate = where.number(where.required(block, key, "rate_rps"), join(key, "rate_rps"), lo=0, lo_open=True)
    process = where.choice(block.get("process", Arrival.process), join(key, "process"), PROCESSES)
    burstiness = where.number(
        block.get("burstiness", Arrival.burstiness), join(key, "burstiness"), lo=0, lo_open=True
    )
    if burstiness != 1.0 and process != "gamma":
        raise where.error(join(key, "burstiness"), "only applies with process: gamma (1 is Poisson)")
    max_inflight = (
        where.integer(block["max_inflight"], join(key, "max_inflight"), lo=1)
        if block.get("max_inflight") is not None
        else None
    )
    return Arrival(rate, process, burstiness, max_inflight)  # type: ignore[arg-type]
