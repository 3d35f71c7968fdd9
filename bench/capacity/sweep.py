"""The capacity sweep: one load run per level against one server, then the capacity analysis.

Each step is its own run (``bench.load.runner.run_load(..., step=i)``) in
``results/capacity-<name>-<timestamp>/step-<i>/``, rather than one run with stages, because:

- a saturated step leaves a queue behind (requests in flight, an open-loop backlog); a separate run lets
  it drain or be cancelled, so the next step starts clean and measures only its own level;
- each step directory is a complete results directory: ``chatbench report`` and ``compare`` work on it;
- stopping early is simply not starting the next run.

The cost is Locust's start-up per step (one or two seconds), which the warm-up absorbs anyway.
``sweep.json`` in the capacity directory records the settings, so ``chatbench capacity DIR`` can
re-analyse a finished (or interrupted) sweep without running load again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from bench.analysis.frames import load_json, load_records
from bench.analysis.selection import run_schedule
from bench.capacity.plan import (
    Capacity,
    CapacityLimit,
    Knee,
    Plan,
    StepResult,
    conservative_capacity,
    find_knee,
    max_load_within_slo,
    plan_replicas,
    step_from_records,
    stop_reason,
)
from bench.errors import ResultsError, UsageError
from bench.gates.overrides import SloOverrides, effective_slo
from bench.numbers import pct
from bench.scenario.model import Sweep
from bench.scenario.slo import Slo, SloThreshold
from bench.servermetrics.analysis import knee_cause, step_signals
from bench.stats import min_samples

__all__ = [
    "CapacityResult",
    "SweepRecord",
    "SweepSettings",
    "analyze_steps",
    "reanalyze",
    "resolve_sweep",
    "run_sweep",
]

DRAIN_S = 5.0
"""How long a finished step waits for requests still in flight (their answers fall outside the window)."""


SweepSettings = Sweep
"""The sweep to run: the scenario's ``sweep`` block (``bench.scenario.model.Sweep``) with flags on top."""


def resolve_sweep(
    sweep: Any | None,
    *,
    mode: str | None = None,
    levels: Sequence[float] | None = None,
    step_duration_s: float | None = None,
    warmup_s: float | None = None,
) -> SweepSettings:
    """The scenario's sweep (``bench.scenario`` ``Sweep`` or None) with flags on top; checked."""
    chosen_mode = mode or getattr(sweep, "mode", None) or "concurrency"
    if chosen_mode not in ("concurrency", "rate"):
        raise UsageError(f"--mode {chosen_mode!r}: choose concurrency (users) or rate (req/s)")
    chosen = tuple(float(x) for x in (levels or getattr(sweep, "levels", ()) or ()))
    if not chosen:
        raise UsageError(
            "no sweep levels: give --levels 1,2,4,8 or a 'sweep: {levels: [...]}' block in the scenario"
        )
    if any(x <= 0 for x in chosen) or list(chosen) != sorted(set(chosen)):
        raise UsageError(f"sweep levels {list(chosen)}: must be positive and increasing")
    if chosen_mode == "concurrency" and any(x != int(x) for x in chosen):
        raise UsageError(f"sweep levels {list(chosen)}: a concurrency sweep needs whole numbers of users")
    duration = step_duration_s if step_duration_s is not None else getattr(sweep, "step_duration_s", 20.0)
    warm = warmup_s if warmup_s is not None else getattr(sweep, "warmup_s", 5.0)
    if duration <= 0 or warm < 0:
        raise UsageError("--step-duration must be positive and --warmup at least 0 (seconds)")
    return SweepSettings(
        mode=chosen_mode,  # type: ignore[arg-type]
        levels=chosen,
        step_duration_s=float(duration),
        warmup_s=float(warm),
        stop_error_rate=float(getattr(sweep, "stop_error_rate", 0.5)),
        stop_latency_factor=float(getattr(sweep, "stop_latency_factor", 10.0)),
    )


@dataclass(frozen=True)
class CapacityResult:
    """Everything ``capacity.json`` holds."""

    scenario: str
    settings: SweepSettings
    slo: Slo
    steps: tuple[StepResult, ...]
    knee: Knee
    limit: CapacityLimit | None
    peak: StepResult | None  # the step with the highest throughput
    plan: Plan | None
    stopped_early: str | None = None
    notes: tuple[str, ...] = field(default=())
    capacity: Capacity | None = None  # the headline: a measured step meeting every SLO, at or below the knee
    interpolated_plan: Plan | None = None  # the plan at the interpolated limit, shown beside, labelled
    saturation: str | None = None  # what the server showed at the knee, one line (bench.servermetrics)

    @property
    def unit(self) -> str:
        return "users" if self.settings.mode == "concurrency" else "req/s offered"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "scenario": self.scenario,
            "sweep": self.settings.to_dict(),
            "load_unit": self.unit,
            "slo": self.slo.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "stopped_early": self.stopped_early,
            "capacity": self.capacity.to_dict() if self.capacity else None,
            "max_load_within_slo": asdict(self.limit) if self.limit else None,
            "knee": asdict(self.knee),
            "peak_throughput": (
                {
                    "level": self.peak.level,
                    "throughput_rps": self.peak.throughput_rps,
                    "step": self.peak.index,
                }
                if self.peak
                else None
            ),
            "plan": self.plan.to_dict() if self.plan else None,
            "interpolated_plan": self.interpolated_plan.to_dict() if self.interpolated_plan else None,
            "notes": list(self.notes),
            "saturation": self.saturation,
        }


def analyze_steps(
    steps: Sequence[StepResult],
    settings: SweepSettings,
    slo: Slo,
    *,
    scenario: str,
    target_users: float | None = None,
    target_rps: float | None = None,
    headroom: float = 0.2,
    stopped_early: str | None = None,
) -> CapacityResult:
    """Knee, highest load within SLOs, peak throughput and (when a target is given) the replica plan."""
    if not steps:
        raise ResultsError("the sweep has no completed step to analyse")
    knee = find_knee(steps)
    limit = max_load_within_slo(steps)
    capacity = conservative_capacity(steps, limit, knee)
    saturation = knee_cause(steps, knee, "users" if settings.mode == "concurrency" else "req/s")
    rated = [s for s in steps if s.throughput_rps is not None]
    peak = max(rated, key=lambda s: s.throughput_rps or 0.0) if rated else None
    notes: list[str] = []
    if limit is not None and limit.level is not None and knee.level is not None and limit.level > knee.level:
        notes.append(
            f"the interpolated highest load within SLOs ({limit.level:.3g}) lies past the saturation knee "
            f"({knee.level:g}): there requests queue, and latency changes abruptly between steps, so the "
            "interpolated figure is optimistic; the headline capacity stays at or below the knee"
        )
    unjudged = [s for s in steps if s.unjudged]
    if unjudged:
        notes.append(
            "not judged (too few requests for the percentile): "
            + "; ".join(
                f"step {s.index} ({s.level:g}): "
                + ", ".join(
                    f"{c.name} from {c.samples} values, needs {min_samples(float(c.stat[1:]))}"
                    for c in s.unjudged
                    if c.stat
                )
                for s in unjudged
            )
        )
    plan = interpolated_plan = None
    if target_users is not None or target_rps is not None:
        if capacity.level is None and limit is None and peak is not None:
            capacity = Capacity(
                peak.level, peak.index, "peak", "no SLO set and no knee found: peak throughput"
            )
        if limit is not None and limit.level is not None and not limit.exact:
            notes.append(
                "every level judged met the SLOs: the plan uses the highest such level (conservative)"
            )

        def planned(level: float, source: str) -> Plan:
            return plan_replicas(
                steps,
                settings.mode,
                capacity_level=level,
                capacity_source=source,
                headroom=headroom,
                target_users=target_users,
                target_rps=target_rps,
            )

        if capacity.level is not None and capacity.level > 0:
            plan = planned(capacity.level, capacity.basis)
            if (
                limit is not None
                and limit.exact
                and limit.level is not None
                and limit.level != capacity.level
            ):
                interpolated_plan = planned(limit.level, "interpolated")
        else:
            notes.append("no replica plan: no level of the sweep met every SLO (sweep lower levels)")
    return CapacityResult(
        scenario,
        settings,
        slo,
        tuple(steps),
        knee,
        limit,
        peak,
        plan,
        stopped_early,
        tuple(notes),
        capacity,
        interpolated_plan,
        saturation,
    )


def _step_dir(capacity_dir: Path, index: int) -> Path:
    return capacity_dir / f"step-{index}"


def _step_overrides(settings: SweepSettings, level: float, base: Mapping[str, Any]) -> dict[str, Any]:
    overrides = {**base, "duration_s": settings.warmup_s + settings.step_duration_s}
    if settings.mode == "concurrency":
        overrides["users"] = int(level)
        overrides["spawn_rate"] = float(level)  # every user starts within a second; the warm-up covers it
    else:
        overrides["rate_rps"] = float(level)
    return overrides


def run_sweep(
    scenario_path: str | Path,
    settings: SweepSettings,
    slo: Slo,
    *,
    scenario_name: str,
    results_dir: str | Path = "results",
    base_overrides: Mapping[str, Any] | None = None,
    processes: int = 0,
    capacity_dir: str | Path | None = None,
    planning: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, list[StepResult], str | None]:
    """Run one step per level (stopping early past saturation); returns (capacity dir, steps, stop reason)."""
    from bench.load.runner import run_load

    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(capacity_dir) if capacity_dir else Path(results_dir) / f"capacity-{scenario_name}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    _write_sweep_json(out, scenario_path, scenario_name, settings, slo, planning)
    steps: list[StepResult] = []
    reason = None
    for i, level in enumerate(settings.levels):
        say(
            f"capacity: step {i + 1}/{len(settings.levels)}, {_level_text(settings.mode, level)} for "
            f"{settings.warmup_s + settings.step_duration_s:g} s (warm-up {settings.warmup_s:g} s)"
        )
        outcome = run_load(
            scenario_path,
            _step_overrides(settings, level, base_overrides or {}),
            results_dir=out,
            run_id=_step_dir(out, i).name,
            processes=processes,
            step=i,
            drain_timeout_s=DRAIN_S,
            progress=False,
        )
        if outcome.interrupted:
            say("capacity: interrupted; analysing the steps done so far")
            reason = "interrupted"
            break
        steps.append(_read_step(outcome.run_dir, i, level, settings, slo))
        say("capacity:   " + _step_line(steps[-1]))
        reason = stop_reason(
            steps, stop_error_rate=settings.stop_error_rate, stop_latency_factor=settings.stop_latency_factor
        )
        if reason:
            say(f"capacity: stopping early: {reason}")
            break
    return out, steps, reason


def _read_step(run_dir: Path, index: int, level: float, settings: SweepSettings, slo: Slo) -> StepResult:
    frame = load_records(run_dir)
    if len(frame) == 0:
        raise ResultsError(f"{run_dir}: the step produced no records")
    step = step_from_records(
        frame,
        index=index,
        level=level,
        slo=slo,
        warmup_s=settings.warmup_s,
        step_duration_s=settings.step_duration_s,
        run_dir=str(run_dir),
        schedule=run_schedule(frame, load_json(run_dir / "run.json"), load_json(run_dir / "scenario.json")),
    )
    if step.window_s is None:
        return step
    return replace(step, server=step_signals(run_dir, frame.t0_s, *step.window_s))


def _level_text(mode: str, level: float) -> str:
    return f"{level:g} users" if mode == "concurrency" else f"{level:g} req/s"


def _step_line(step: StepResult) -> str:
    e2e = step.latency("e2e_ms", "p50")
    ttft = step.latency("ttft_ms", "p95")
    parts = [
        f"{step.requests} requests",
        f"{step.throughput_rps:.2f} req/s" if step.throughput_rps is not None else "no throughput",
        f"E2E p50 {e2e:.0f} ms" if e2e is not None else "",
        f"TTFT p95 {ttft:.0f} ms" if ttft is not None else "",
        f"errors {pct(step.error_rate, 1)}" if step.error_rate else "",
        {
            "met": "SLOs met",
            "breached": "SLO breached: " + ", ".join(c.name for c in step.breaches),
            "not judged": "not judged: " + ", ".join(f"{c.name} (n = {c.samples})" for c in step.unjudged),
        }.get(step.status, ""),
        f"server waiting {step.server['waiting']['mean']:.1f}"
        if step.server and step.server.get("waiting")
        else "",
    ]
    return ", ".join(p for p in parts if p)


def _write_sweep_json(
    out: Path,
    scenario_path: str | Path,
    name: str,
    settings: SweepSettings,
    slo: Slo,
    planning: Mapping[str, Any] | None,
) -> None:
    data = {
        "scenario": name,
        "planning": dict(planning) if planning else None,
        "scenario_path": str(scenario_path),
        "sweep": settings.to_dict(),
        "slo": slo.to_dict(),
    }
    (out / "sweep.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


@dataclass(frozen=True)
class SweepRecord:
    """A capacity directory read back: its settings, SLOs, planning block and measured steps."""

    scenario: str
    settings: SweepSettings
    slo: Slo
    steps: list[StepResult]
    planning: Mapping[str, Any] | None = None


def reanalyze(capacity_dir: str | Path, overrides: SloOverrides | None = None) -> SweepRecord:
    """Read a capacity directory (``sweep.json`` + ``step-<i>/``) back into steps, without running load.

    The SLOs are those recorded in ``sweep.json``, with ``overrides`` (``--slo``/``--no-slo``) on top.
    """
    path = Path(capacity_dir)
    meta = load_json(path / "sweep.json")
    if not meta:
        raise ResultsError(f"{path}: not a capacity directory (no sweep.json)")
    raw = meta.get("sweep") or {}
    try:
        settings = SweepSettings(
            mode=raw["mode"],
            levels=tuple(float(x) for x in raw["levels"]),
            step_duration_s=float(raw["step_duration_s"]),
            warmup_s=float(raw["warmup_s"]),
            stop_error_rate=float(raw.get("stop_error_rate", 0.5)),
            stop_latency_factor=float(raw.get("stop_latency_factor", 10.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsError(f"{path / 'sweep.json'}: incomplete sweep settings ({exc})") from None
    recorded = meta.get("slo") or {}
    if "thresholds" in recorded:  # sweep.json before the one SLO form: a list of thresholds
        rows = recorded.get("thresholds") or []
        rate = recorded.get("error_rate")
        written = Slo(tuple(SloThreshold(t["metric"], t["stat"], float(t["limit"])) for t in rows), rate)
    else:
        written = Slo.from_dict(recorded)
    slo = effective_slo(written, overrides)
    steps = []
    for i, level in enumerate(settings.levels):
        step_dir = _step_dir(path, i)
        if not step_dir.is_dir():
            break
        steps.append(_read_step(step_dir, i, level, settings, slo))
    if not steps:
        raise ResultsError(f"{path}: no step-<i> directory with records")
    planning = meta.get("planning") if isinstance(meta.get("planning"), dict) else None
    return SweepRecord(str(meta.get("scenario") or path.name), settings, slo, steps, planning)
