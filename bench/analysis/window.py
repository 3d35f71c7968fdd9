"""The steady-state window, decided from the load the run *offered*, never from what the server did.

A run offers load from the start of its first stage until its shape stops (the last stage ended, the
request budget was spent, the run was interrupted). That schedule is written by the load side into
``run.json`` (``schedule``: when each stage started, when the load stopped and why); the stages
themselves, and the optional ``load.warmup_s`` / ``load.cooldown_s``, are in ``scenario.json``.

From the schedule, in seconds from the run start (``t0_s`` of the record frame):

- the **offered period** runs from the start of the first stage with load to the moment the load
  stopped. Every request that *started* in it counts for the error rate and the error counts, whatever
  the server did with it (a target that died at 12 s shows as failures, not as a shorter run);
- the **steady-state window** runs from the end of the spawn ramp of the first loaded stage
  (``users / spawn_rate`` seconds after it started; none for an open loop, whose arrivals follow the
  rate from the first instant) plus ``warmup_s``, to the end of the offered period minus ``cooldown_s``.
  Latency percentiles are over the successful requests that *ended* inside it; throughput is over its
  exact length (``bench.analysis.metrics.throughput``, which counts a request crossing an edge for the
  part of its time inside the window, so the edges add no bias).

How many requests were in flight never moves either bound: when the server stops answering, nothing is
in flight and the window must not shrink around the outage.

Fallbacks, each said in ``Window.note``: a run without a recorded schedule (an older results directory,
or a ``kill -9`` before the first stage was noted) anchors the scenario's stages at the first request;
a steady part shorter than ``MIN_WINDOW_S`` uses the whole offered period; records without any
scenario use the whole run. ``--window START:END`` overrides the steady-state window (not the offered
period: the error rate still covers every request sent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from bench.errors import UsageError
from bench.records import STOP_REASONS, StopReason

__all__ = [
    "MIN_WINDOW_S",
    "Schedule",
    "Window",
    "in_flight",
    "manual_window",
    "offered_window",
    "parse_window",
    "per_second_in_flight",
    "schedule_from_run",
    "steady_window",
]

MIN_WINDOW_S = 2.0
GRID_STEP_S = 0.1

WindowSource = Literal["manual", "schedule", "whole_run"]
ScheduleSource = Literal["recorded", "scenario"]
LoadEnd = StopReason | Literal["stopped", "interrupted", "killed"]
"""How the load ended: the load shape's own reason (``bench.records.StopReason``), or, when it wrote
none the analysis knows: ``stopped`` (an unknown reason), ``interrupted`` (Locust ended before the
shape stopped), ``killed`` (nothing says when; the last record bounds it)."""


@dataclass(frozen=True)
class Window:
    """A time range of the run, seconds from its start: ``start_s <= t < end_s``."""

    start_s: float
    end_s: float
    source: WindowSource
    note: str = ""

    @property
    def duration_s(self) -> float:
        return max(self.end_s - self.start_s, 0.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "duration_s": self.duration_s,
            "source": self.source,
            "note": self.note,
        }


@dataclass(frozen=True)
class Schedule:
    """When the run offered load, in seconds from the run start (see the module docstring)."""

    load_start_s: float  # the first stage with load started
    ramp_end_s: float  # its spawn ramp ended (== load_start_s for an open loop)
    load_end_s: float  # the load stopped (planned end, or earlier: budget spent, interrupted; or a
    # trace's later end when it ran past its plan to send every row)
    warmup_s: float = 0.0
    cooldown_s: float = 0.0
    stop_reason: LoadEnd = "schedule"  # what the load side wrote, or what the analysis could tell
    source: ScheduleSource = "recorded"
    arrivals_dropped: int = 0  # open-loop arrivals never sent: the in-flight limit was full

    def to_dict(self) -> dict[str, object]:
        return {
            "load_start_s": self.load_start_s,
            "ramp_end_s": self.ramp_end_s,
            "load_end_s": self.load_end_s,
            "warmup_s": self.warmup_s,
            "cooldown_s": self.cooldown_s,
            "stop_reason": self.stop_reason,
            "source": self.source,
            "arrivals_dropped": self.arrivals_dropped,
        }


def parse_window(text: str) -> tuple[float | None, float | None]:
    """``"10:50"`` -> (10.0, 50.0); either side may be empty (``"10:"``: from 10 s to the end)."""
    start_text, sep, end_text = text.partition(":")
    if not sep:
        raise UsageError(f"--window {text!r}: expected START:END in seconds from the run start, e.g. 10:50")
    try:
        start = float(start_text) if start_text.strip() else None
        end = float(end_text) if end_text.strip() else None
    except ValueError:
        raise UsageError(f"--window {text!r}: START and END must be numbers of seconds, e.g. 10:50") from None
    if any(v is not None and not math.isfinite(v) for v in (start, end)):
        raise UsageError(f"--window {text!r}: START and END must be finite numbers of seconds")
    if (start is not None and start < 0) or (start is not None and end is not None and end <= start):
        raise UsageError(f"--window {text!r}: need 0 <= START < END")
    return start, end


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _loaded(stage: Mapping[str, Any], open_loop: bool) -> bool:
    """Whether a stage offers any load (a stage of 0 users is a pause, not load)."""
    if open_loop:
        return (_number(stage.get("rate_rps")) or 0.0) > 0
    return (_number(stage.get("users")) or 0.0) > 0


def schedule_from_run(
    run_info: Mapping[str, Any],
    scenario: Mapping[str, Any],
    *,
    t0_s: float,
    first_start_s: float | None,
    last_end_s: float | None,
) -> Schedule | None:
    """The offered load's schedule of a run, from its ``run.json`` and ``scenario.json``.

    ``t0_s`` is the run start (epoch seconds) every offset counts from; ``first_start_s`` and
    ``last_end_s`` (seconds from ``t0_s``) are used only when the schedule was not recorded: the first
    request anchors the scenario's stages, and nothing is assumed to go on after the last record.
    None when there is no scenario to read stages from.
    """
    load = scenario.get("load")
    if not isinstance(load, Mapping):
        return None
    stages = [s for s in load.get("stages") or () if isinstance(s, Mapping)]
    if not stages:
        return None
    open_loop = isinstance(load.get("arrival"), Mapping)
    warmup_s = _number(load.get("warmup_s")) or 0.0
    cooldown_s = _number(load.get("cooldown_s")) or 0.0
    recorded = run_info.get("schedule")
    recorded = recorded if isinstance(recorded, Mapping) else {}
    started = {
        int(s["index"]): float(s["started_at_s"])
        for s in recorded.get("stages") or ()
        if isinstance(s, Mapping)
        and _number(s.get("index")) is not None
        and _number(s.get("started_at_s")) is not None
    }
    source: ScheduleSource
    if 0 in started:
        base_s, source = started[0] - t0_s, "recorded"
    elif first_start_s is not None:
        base_s, source = first_start_s, "scenario"
    else:
        return None
    # Stage i starts when it was recorded to, else where the plan puts it after the one before.
    starts: list[float] = []
    at = base_s
    for i, stage in enumerate(stages):
        at = started[i] - t0_s if i in started else at
        starts.append(at)
        at += _number(stage.get("duration_s")) or 0.0
    loaded = [i for i, stage in enumerate(stages) if _loaded(stage, open_loop)]
    if not loaded:
        return None
    first, last = loaded[0], loaded[-1]
    load_start_s = starts[first]
    load_end_s = starts[last] + (_number(stages[last].get("duration_s")) or 0.0)
    stop_reason: LoadEnd = "schedule"
    stopped = _number(recorded.get("load_stopped_at_s"))
    written = recorded.get("stop_reason")
    said: LoadEnd = written if written in STOP_REASONS else "stopped"
    ended = _number(run_info.get("ended_at_s"))
    overran = said == "trace_overran"  # on past the plan, to send every row
    if stopped is not None and (stopped - t0_s < load_end_s or overran):
        load_end_s, stop_reason = stopped - t0_s, said
    elif stopped is None and ended is not None and ended - t0_s < load_end_s:
        load_end_s, stop_reason = ended - t0_s, "interrupted"  # Locust ended before the shape stopped
    elif stopped is None and ended is None and last_end_s is not None and last_end_s < load_end_s:
        load_end_s, stop_reason = last_end_s, "killed"  # nothing says when: the last record bounds it
    ramp_s = 0.0
    if not open_loop:
        users = _number(stages[first].get("users")) or 0.0
        rate = _number(stages[first].get("spawn_rate")) or 0.0
        ramp_s = users / rate if rate > 0 else 0.0
    return Schedule(
        load_start_s=load_start_s,
        ramp_end_s=min(load_start_s + ramp_s, load_end_s),
        load_end_s=max(load_end_s, load_start_s),
        warmup_s=warmup_s,
        cooldown_s=cooldown_s,
        stop_reason=stop_reason,
        source=source,
        arrivals_dropped=int(_number(recorded.get("arrivals_dropped")) or 0),
    )


def offered_window(schedule: Schedule | None) -> Window:
    """When load was offered: every request that started in it counts for the error rate."""
    if schedule is None:
        return Window(0.0, math.inf, "whole_run", "no load schedule: every request counts")
    return Window(schedule.load_start_s, schedule.load_end_s, "schedule")


def steady_window(schedule: Schedule | None, run_end_s: float) -> Window:
    """The steady-state window of ``schedule`` (the whole run when there is none; see the module docstring)."""
    if schedule is None:
        return Window(0.0, run_end_s, "whole_run", "no load schedule in the results: using the whole run")
    where = (
        ""
        if schedule.source == "recorded"
        else "; stages anchored at the first request (no recorded schedule)"
    )
    start = schedule.ramp_end_s + schedule.warmup_s
    end = schedule.load_end_s - schedule.cooldown_s
    parts = []
    if schedule.ramp_end_s > schedule.load_start_s:
        parts.append(f"after the {schedule.ramp_end_s - schedule.load_start_s:.1f} s spawn ramp")
    if schedule.warmup_s:
        parts.append(f"{schedule.warmup_s:g} s warm-up")
    if schedule.cooldown_s:
        parts.append(f"{schedule.cooldown_s:g} s cool-down left out")
    if schedule.stop_reason == "trace_overran":
        parts.append("the trace took longer than planned to send")
    elif schedule.stop_reason != "schedule":
        parts.append(f"load stopped early ({schedule.stop_reason})")
    if end - start < MIN_WINDOW_S:
        return Window(
            schedule.load_start_s,
            schedule.load_end_s,
            "schedule",
            f"the steady part of the schedule is under {MIN_WINDOW_S:g} s: using the whole offered load{where}",
        )
    return Window(start, end, "schedule", "offered load " + (", ".join(parts) or "as scheduled") + where)


def manual_window(start: float | None, end: float | None, run_end_s: float) -> Window:
    """The window the user asked for, clipped to the run."""
    lo = 0.0 if start is None else start
    hi = run_end_s if end is None else end
    note = ""
    if lo >= run_end_s:
        note = f"the window starts after the run ended ({run_end_s:.1f} s)"
    return Window(lo, hi, "manual", note)


def in_flight(start_s: np.ndarray, end_s: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """How many requests were in flight (started at or before t, not yet ended) at each of ``times_s``."""
    starts = np.sort(start_s)
    ends = np.sort(end_s)
    return np.searchsorted(starts, times_s, side="right") - np.searchsorted(ends, times_s, side="right")


def per_second_in_flight(start_s: np.ndarray, end_s: np.ndarray, duration_s: float) -> np.ndarray:
    """Mean requests in flight during each whole second [k, k+1) of the run (a figure, not a window)."""
    seconds = max(int(np.ceil(duration_s)), 1)
    steps = round(1 / GRID_STEP_S)
    grid = (np.arange(seconds * steps) + 0.5) * GRID_STEP_S
    counts = in_flight(start_s, end_s, grid).astype(np.float64)
    return counts.reshape(seconds, steps).mean(axis=1)
