"""Capacity planning from a sweep: per-step figures, highest load within SLOs, saturation knee, replicas.

A sweep holds the server at a series of load levels (``level``: concurrent users in a closed loop, or an
offered arrival rate in req/s in an open loop), one step each. From the records of each step, after its
warm-up, this module computes one ``StepResult`` and then answers:

- **judged or not**: a percentile SLO is judged on a step only from ``min_samples`` values (p95: 100,
  p99: 500; ``judged``); a step with fewer is *not judged* for it: it neither meets nor breaches it;
- **capacity** (the headline, ``conservative_capacity``): the highest *measured* step, before the first
  breach, that met every SLO, and never a step past the saturation knee; without an SLO, the knee;
- **interpolated highest load within SLOs** (shown beside it, labelled): between the last step that met
  every SLO and the first one that breached one, each breached SLO's measured value is interpolated
  linearly in the load, and the load at which it reaches its limit is found; the smallest such load is
  the answer, and that SLO *binds*. Past the knee latency jumps between steps, so this is optimistic;
- **saturation knee**: the last level before throughput stops rising while latency climbs. The initial
  slope is s0 = throughput(first step) / level(first step) (req/s per load unit); step i is past the knee
  when its marginal slope (T_i - T_{i-1}) / (L_i - L_{i-1}) < ``KNEE_SLOPE_FRACTION`` * s0 and its mean
  E2E latency rose by more than ``KNEE_LATENCY_RISE``; the knee is then L_{i-1}. The mean, not the median:
  in a closed loop mean latency = users / throughput (Little's law), so it rises as soon as requests
  queue, while the median can stay put until most requests wait;
- **replicas** for a target load at a headroom h: replicas = ceil(target / (capacity * (1 - h))), where
  capacity is the headline capacity (and, beside it, the interpolated one). The latency to expect is the
  measured latency interpolated at the per-replica load target / replicas. Assumption: replicas behind a
  load balancer scale linearly, each taking an equal share.

Everything here is pure (hand-built step tables work), except ``step_from_records``, which reads records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from bench import metrics
from bench.analysis.frames import RecordFrame
from bench.analysis.metrics import good_mask, slo_limits
from bench.analysis.selection import select
from bench.analysis.window import Schedule
from bench.errors import UsageError
from bench.gates import data
from bench.gates.slo import SloCheck, evaluate_slos, stat_value
from bench.scenario.slo import Slo
from bench.stats import judged as stats_judged

__all__ = [
    "KNEE_LATENCY_RISE",
    "KNEE_SLOPE_FRACTION",
    "LATENCY_STATS",
    "Capacity",
    "CapacityLimit",
    "Knee",
    "Plan",
    "StepResult",
    "conservative_capacity",
    "find_knee",
    "judged",
    "max_load_within_slo",
    "plan_replicas",
    "step_from_records",
    "stop_reason",
]

SweepMode = Literal["concurrency", "rate"]

KNEE_SLOPE_FRACTION = 0.25
"""A step whose throughput gain per added load unit is below this share of the initial slope is flat."""
KNEE_LATENCY_RISE = 0.10
"""...and whose mean E2E latency rose by more than this fraction is past the knee."""
LATENCY_STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "mean", "max")
"""Statistics kept per step for each latency metric."""
LATENCY: tuple[str, ...] = metrics.names(kind="latency", slo=True)
"""Latency metrics measured at each step and expected for a plan: the server latencies of ``bench.metrics``."""


@dataclass(frozen=True)
class StepResult:
    """One load level of a sweep, measured after its warm-up."""

    index: int
    level: float  # users (concurrency) or offered req/s (rate)
    duration_s: float  # length of the measured window
    requests: int  # counted requests the step sent (warm-up and drain included): the error rate's base
    failed: int
    error_rate: float | None  # failed / requests
    # Throughput, goodput and latencies are over the window (``window_s``) only.
    throughput_rps: float | None  # successful requests / duration_s
    output_tokens_per_s: float | None
    goodput_rps: float | None  # successful requests meeting every per-request SLO limit / duration_s
    latency_ms: Mapping[str, Mapping[str, float | None]]  # metric -> stat -> ms
    checks: tuple[SloCheck, ...] = ()
    run_dir: str | None = None
    window_s: tuple[float, float] | None = None  # the measured window, seconds since the step's run start
    # The server's signals over that window (bench.servermetrics.analysis.interval_signals); None: none.
    server: Mapping[str, Any] | None = None

    @property
    def unjudged(self) -> tuple[SloCheck, ...]:
        """The checks this step has too few values for (``judged``): neither met nor breached."""
        return tuple(c for c in self.checks if not judged(c))

    @property
    def breaches(self) -> tuple[SloCheck, ...]:
        """The checks judged and failed."""
        return tuple(c for c in self.checks if judged(c) and not c.passed)

    @property
    def meets_slo(self) -> bool:
        """Every SLO judged and met (True with no SLO); a step with a check not judged has not met it."""
        return not self.breaches and not self.unjudged

    @property
    def status(self) -> str:
        """``met``, ``breached`` or ``not judged`` (``no SLO`` without checks)."""
        if not self.checks:
            return "no SLO"
        return "breached" if self.breaches else "not judged" if self.unjudged else "met"

    def latency(self, metric: str, stat: str) -> float | None:
        return self.latency_ms.get(metric, {}).get(stat)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checks"] = [c.to_dict() for c in self.checks]
        out["meets_slo"] = self.meets_slo
        out["status"] = self.status
        out["not_judged"] = [c.name for c in self.unjudged]
        return out


def judged(check: SloCheck) -> bool:
    """A percentile SLO is judged on a step only from enough values: the one rule, ``stats.judged``.

    Under that count the "p95" of a step is little more than its largest value, so the step is marked
    *not judged* for that SLO: it neither passes nor breaches, and the capacity never rests on it.
    """
    return stats_judged(check.stat, check.samples)


def step_from_records(
    frame: RecordFrame,
    *,
    index: int,
    level: float,
    slo: Slo,
    warmup_s: float,
    step_duration_s: float | None = None,
    run_dir: str | None = None,
    schedule: Schedule | None = None,
) -> StepResult:
    """The figures of one step, over the window from ``warmup_s`` to ``warmup_s + step_duration_s`` seconds
    after the step's load started (its recorded ``schedule``, or its first request when there is none), to
    the last answer when ``step_duration_s`` is None.

    Which requests count is ``bench.analysis.selection.select``'s answer, as for a run's report and gate:
    the error rate, the failures and the outage check cover every request the step sent, warm-up and drain
    included, so a step whose server failed is never passed for lack of answers in its window. Throughput
    and goodput count the requests that *ended* in the window, over its exact length; latencies and
    latency SLOs take those of them that also *started* after the warm-up.
    """
    df = frame.df
    start_s = df["start_s"].to_numpy()
    end_s = df["end_s"].to_numpy()
    origin = schedule.load_start_s if schedule is not None else (float(start_s.min()) if len(df) else 0.0)
    last_end = float(end_s.max()) - origin if len(df) else 0.0
    window_end = last_end if step_duration_s is None else min(warmup_s + step_duration_s, last_end)
    duration_s = max(window_end - warmup_s, 0.0)
    sel = select(frame, schedule, (origin + warmup_s, origin + window_end))
    judged = replace(sel, in_window=sel.in_window & (start_s >= origin + warmup_s))
    in_window, ok = sel.in_window, sel.in_window & sel.ok
    latency: dict[str, dict[str, float | None]] = {}
    for metric in LATENCY:
        values = data.metric_values(frame, metric, judged.in_window)
        latency[metric] = {stat: stat_value(values, stat) for stat in LATENCY_STATS}
    verdict = evaluate_slos(frame, slo, selection=judged)
    limits, _ = slo_limits(slo.to_dict())
    good = int((good_mask(frame, limits) & in_window).sum()) if limits else int(ok.sum())
    tokens = float(np.nansum(df["output_tokens"].to_numpy()[ok]))

    def per_s(amount: float) -> float | None:
        return amount / duration_s if duration_s > 0 else None

    return StepResult(
        index=index,
        level=float(level),
        duration_s=duration_s,
        requests=sel.requests,
        failed=sel.failed,
        error_rate=sel.error_rate,
        throughput_rps=per_s(int(ok.sum())),
        output_tokens_per_s=per_s(tokens),
        goodput_rps=per_s(good),
        latency_ms=latency,
        checks=verdict.checks,
        run_dir=run_dir,
        window_s=(origin + warmup_s, origin + window_end),
    )


# --- saturation --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Knee:
    """Where throughput stops rising while latency climbs."""

    index: int | None  # step index of the knee (the last level still scaling); None: not reached
    level: float | None
    throughput_rps: float | None
    reason: str


def _flat_and_slower(steps: Sequence[StepResult], i: int, s0: float, fraction: float) -> bool:
    """Step i added load without adding throughput (below ``fraction`` of the initial slope) and got slower."""
    a, b = steps[i - 1], steps[i]
    if a.throughput_rps is None or b.throughput_rps is None or b.level <= a.level:
        return False
    slope = (b.throughput_rps - a.throughput_rps) / (b.level - a.level)
    lat_a, lat_b = a.latency("e2e_ms", "mean"), b.latency("e2e_ms", "mean")
    climbs = lat_a is not None and lat_b is not None and lat_b > lat_a * (1 + KNEE_LATENCY_RISE)
    return slope < fraction * s0 and climbs


def _initial_slope(steps: Sequence[StepResult]) -> float | None:
    first = steps[0]
    if first.throughput_rps is None or first.level <= 0:
        return None
    return first.throughput_rps / first.level


def find_knee(steps: Sequence[StepResult], *, fraction: float = KNEE_SLOPE_FRACTION) -> Knee:
    """The saturation knee of a sweep (definition in the module docstring)."""
    if len(steps) < 2:
        return Knee(None, None, None, "need at least two steps to see a knee")
    s0 = _initial_slope(steps)
    if s0 is None or s0 <= 0:
        return Knee(None, None, None, "the first step has no throughput")
    for i in range(1, len(steps)):
        if _flat_and_slower(steps, i, s0, fraction):
            k = steps[i - 1]
            gain = (steps[i].throughput_rps or 0.0) - (k.throughput_rps or 0.0)
            return Knee(
                k.index,
                k.level,
                k.throughput_rps,
                f"from {k.level:g} to {steps[i].level:g} throughput changed by {gain:+.2f} req/s "
                f"(less than {fraction:.0%} of the initial {s0:.2f} req/s per unit) while mean E2E rose",
            )
    return Knee(None, None, None, "throughput still rising at the highest level tested")


def stop_reason(
    steps: Sequence[StepResult], *, stop_error_rate: float, stop_latency_factor: float
) -> str | None:
    """Why a sweep should stop after its last step (clearly past saturation), or None to go on."""
    last, first = steps[-1], steps[0]
    if last.error_rate is not None and last.error_rate > stop_error_rate:
        return f"error rate {last.error_rate:.1%} at level {last.level:g} exceeds {stop_error_rate:.1%}"
    lat0, lat = first.latency("e2e_ms", "mean"), last.latency("e2e_ms", "mean")
    if len(steps) > 1 and lat0 and lat is not None and lat > stop_latency_factor * lat0:
        return (
            f"mean E2E {lat:.0f} ms at level {last.level:g} is over {stop_latency_factor:g}x "
            f"the first step's {lat0:.0f} ms"
        )
    if last.requests > 0 and last.throughput_rps == 0:
        return f"no successful request at level {last.level:g}"
    s0 = _initial_slope(steps)
    if len(steps) >= 3 and s0:
        n = len(steps)
        if all(_flat_and_slower(steps, i, s0, KNEE_SLOPE_FRACTION) for i in (n - 2, n - 1)):
            return (
                f"throughput stopped rising while latency climbed for two steps (up to level {last.level:g})"
            )
    return None


# --- highest load within the SLOs ---------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityLimit:
    """The highest load that meets every SLO, and which SLO binds first."""

    level: float | None  # None: even the lowest level breaches an SLO
    binding: str | None  # "ttft_ms.p95", "error_rate"... None when nothing failed
    exact: bool  # False when every level passed (the true limit is higher) or none did
    note: str
    last_pass_index: int | None = None
    first_fail_index: int | None = None


def _check(step: StepResult, name: str) -> SloCheck | None:
    return next((c for c in step.checks if c.name == name), None)


def max_load_within_slo(steps: Sequence[StepResult]) -> CapacityLimit | None:
    """Interpolate the highest passing load between the last step that met every SLO and the first breach.

    None when no SLO was checked. Steps not judged (too few values for a percentile) neither pass nor
    fail: the interpolation runs from the last step that *met* every SLO. When no step before the first
    breach met them, ``level`` is None; when no step breaches, ``level`` is the highest step that met
    every SLO (a lower bound: ``exact`` is False).
    """
    if not steps or not steps[0].checks:
        return None
    fail = next((i for i, s in enumerate(steps) if s.breaches), None)
    before = steps if fail is None else steps[:fail]
    met = [i for i, s in enumerate(before) if s.meets_slo]
    if fail is None:
        if not met:
            return CapacityLimit(
                None,
                None,
                False,
                "no step had enough requests to judge every SLO; run longer steps",
            )
        top = steps[met[-1]]
        return CapacityLimit(
            top.level,
            None,
            False,
            f"every step judged met every SLO; capacity is at least {top.level:g}",
            met[-1],
        )
    failing = steps[fail]
    names = ", ".join(c.name for c in failing.breaches)
    if not met:
        note = (
            f"the lowest level {failing.level:g} already breaches {names}; sweep lower"
            if fail == 0
            else f"{failing.level:g} breaches {names} and no lower level was judged to meet every SLO "
            "(too few requests); sweep lower or run longer steps"
        )
        return CapacityLimit(None, names, False, note, None, fail)
    passing = steps[met[-1]]
    best: tuple[float, str] | None = None
    for check in failing.breaches:
        prior = _check(passing, check.name)
        level = _crossing(passing.level, prior.measured if prior else None, failing.level, check)
        if best is None or level < best[0]:
            best = (level, check.name)
    assert best is not None  # the failing step has at least one breach
    level, name = best
    return CapacityLimit(
        level,
        name,
        True,
        f"{name} reaches its limit at about {level:.3g} (between {passing.level:g}, which meets every SLO, "
        f"and {failing.level:g}, which does not)",
        met[-1],
        fail,
    )


@dataclass(frozen=True)
class Capacity:
    """The headline capacity: the highest measured step that met every SLO, never one past the knee."""

    level: float | None
    index: int | None
    basis: str  # "slo": a step that met every SLO; "knee": no SLO, the knee; "none"
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def conservative_capacity(steps: Sequence[StepResult], limit: CapacityLimit | None, knee: Knee) -> Capacity:
    """The last step (before the first breach) that met every SLO, at or below the saturation knee.

    A measured level, not an interpolation: between two steps latency can jump (past the knee requests
    queue), so a straight line between them says nothing about the load in between. Without an SLO the
    knee itself is the capacity.
    """
    if limit is None:
        if knee.level is None:
            return Capacity(None, None, "none", "no SLO set and no saturation knee found")
        return Capacity(knee.level, knee.index, "knee", f"no SLO set: the saturation knee ({knee.level:g})")
    end = limit.first_fail_index if limit.first_fail_index is not None else len(steps)
    met = [s for s in steps[:end] if s.meets_slo]
    if not met:
        return Capacity(None, None, "none", limit.note)
    best = met[-1]
    if knee.level is not None and best.level > knee.level:
        below = [s for s in met if s.level <= knee.level]
        if not below:
            return Capacity(
                None,
                None,
                "none",
                f"every step that met the SLOs lies past the saturation knee ({knee.level:g}); sweep lower",
            )
        return Capacity(
            below[-1].level,
            below[-1].index,
            "slo",
            f"{below[-1].level:g} met every SLO; {best.level:g} did too, but lies past the saturation knee "
            f"({knee.level:g}), where requests queue",
        )
    return Capacity(
        best.level, best.index, "slo", f"{best.level:g} is the highest level measured that met every SLO"
    )


def _crossing(level_a: float, value_a: float | None, level_b: float, failed: SloCheck) -> float:
    """The load where the SLO's measured value reaches its limit, linear between two steps."""
    value_b = failed.measured
    if value_a is None or value_b is None or value_b <= value_a:
        return level_a  # no usable slope: stay at the last level known to pass
    fraction = (failed.limit - value_a) / (value_b - value_a)
    return level_a + min(max(fraction, 0.0), 1.0) * (level_b - level_a)


# --- planning -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How many servers like the one measured are needed for a target load, and what latency to expect."""

    target: float
    unit: Literal["users", "rps"]
    headroom: float
    capacity_per_server: float  # in ``unit``: highest load within SLOs (or the knee without SLOs)
    capacity_source: str  # "slo" (a step meeting every SLO), "knee", "peak" or "interpolated"
    usable_per_server: float  # capacity * (1 - headroom)
    replicas: int
    load_per_replica: float  # target / replicas, in ``unit``
    level_per_replica: float  # the same in the sweep's own load unit
    expected_latency_ms: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    expected_throughput_rps: float | None = None
    assumption: str = (
        "replicas behind a load balancer scale linearly: each serves an equal share of the target, "
        "and one replica behaves as the single server measured"
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interpolate(steps: Sequence[StepResult], level: float, value_of: Any) -> float | None:
    """``value_of(step)`` linearly interpolated at ``level`` (None when no step has a value)."""
    points = [(s.level, value_of(s)) for s in steps]
    points = [(x, y) for x, y in points if y is not None]
    if not points:
        return None
    xs, ys = zip(*points, strict=True)
    return float(np.interp(level, xs, ys))


def plan_replicas(
    steps: Sequence[StepResult],
    mode: SweepMode,
    *,
    capacity_level: float,
    capacity_source: str,
    headroom: float,
    target_users: float | None = None,
    target_rps: float | None = None,
) -> Plan:
    """replicas = ceil(target / (capacity * (1 - headroom))), with the per-server numbers it rests on.

    The capacity is ``capacity_level`` in the sweep's unit (users for a concurrency sweep, req/s for a rate
    sweep). A target in req/s against a concurrency sweep converts the capacity to req/s with the measured
    throughput at that level; a target in users against a rate sweep is refused (it would need think times).
    """
    if not 0.0 <= headroom < 1.0:
        raise UsageError(f"--headroom {headroom:g}: must be at least 0 and below 1 (0.2 = keep 20% spare)")
    if (target_users is None) == (target_rps is None):
        raise UsageError("give exactly one planning target: --target-users N or --target-rps R")
    if capacity_level <= 0:
        raise UsageError(
            "the measured capacity is zero: no level of the sweep served requests within the SLOs"
        )
    if target_users is not None:
        if mode != "concurrency":
            raise UsageError(
                "--target-users needs a concurrency sweep (--mode concurrency); use --target-rps"
            )
        unit: Literal["users", "rps"] = "users"
        target = float(target_users)
        capacity = capacity_level
    else:
        unit = "rps"
        target = float(target_rps or 0.0)
        if mode == "rate":
            capacity = capacity_level
        else:
            measured = interpolate(steps, capacity_level, lambda s: s.throughput_rps)
            if not measured:
                raise UsageError("no throughput was measured, so req/s cannot be planned for")
            capacity = measured
    if target <= 0:
        raise UsageError("the planning target must be positive")
    usable = capacity * (1.0 - headroom)
    replicas = max(1, math.ceil(target / usable - 1e-9))
    per_replica = target / replicas
    level = (
        per_replica
        if unit == "users" or mode == "rate"
        else _level_for_rps(steps, per_replica, capacity_level)
    )
    expected = {
        metric: {
            stat: interpolate(steps, level, lambda s, m=metric, t=stat: s.latency(m, t))
            for stat in ("p50", "p95", "p99")
        }
        for metric in LATENCY
    }
    return Plan(
        target=target,
        unit=unit,
        headroom=headroom,
        capacity_per_server=capacity,
        capacity_source=capacity_source,
        usable_per_server=usable,
        replicas=replicas,
        load_per_replica=per_replica,
        level_per_replica=level,
        expected_latency_ms=expected,
        expected_throughput_rps=interpolate(steps, level, lambda s: s.throughput_rps),
    )


def _level_for_rps(steps: Sequence[StepResult], rps: float, up_to_level: float) -> float:
    """The concurrency at which the measured throughput reaches ``rps`` (inverse interpolation, rising part)."""
    points = [
        (s.level, s.throughput_rps) for s in steps if s.throughput_rps is not None and s.level <= up_to_level
    ]
    top = interpolate(steps, up_to_level, lambda s: s.throughput_rps)
    if top is not None:
        points.append((up_to_level, top))
    points.sort()
    xs = np.array([0.0, *(x for x, _ in points)])
    ys = np.maximum.accumulate(np.array([0.0, *(y for _, y in points)]))  # keep it non-decreasing
    return float(np.interp(rps, ys, xs))
