"""What one load-generator process sustains on this machine while its timing stays right.

``chatbench calibrate`` starts the embedded mock with a truth log, drives it with chatbench's own load
generator (one process) in short bounded steps of rising concurrency, and after each step compares the
records with the truth log (``bench.instrument.truth``). A step *passes* when no request failed and the p99 of the
absolute timing error of TTFT, of every inter-chunk gap and of E2E is at most ``error_limit_ms`` (1 ms).
The highest passing step gives:

- streamed: concurrent streams and content chunks/s one process sustains (the mock paces every stream
  at ``itl_ms`` between chunks, like a real server, which costs the client far more per chunk than a
  burst of chunks in one read);
- non-streamed: requests/s one process sustains.

From these it tells how many ``--processes`` a target load needs. The search stops at the first failing
step (the error only grows with load) and every step is bounded in time, so the whole command is too.

The machine-load meter is ``bench.instrument.cpu``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from bench.instrument.cpu import CpuSampler, busy_cpu_s, tree_cpu_s
from bench.instrument.truth import ServerTiming, TruthReport, compare, read_records, read_truth_log
from bench.records import Record

__all__ = [
    "Calibration",
    "CalibrationSettings",
    "StepResult",
    "chunk_times",
    "measure_step",
    "processes_needed",
    "run_calibration",
    "run_step",
]

Mode = Literal["stream", "nonstream"]


# --------------------------------------------------------------------------------------------------
# One step: records + truth log -> figures


def chunk_times(rec: Record) -> np.ndarray:
    """Monotonic times (s) at which the client received each content chunk of a streamed record."""
    if rec.ttft_ms is None:
        return np.empty(0)
    offsets_ms = np.concatenate(([rec.ttft_ms], np.frombuffer(rec.itl_ms, dtype="float64")))
    return rec.start_mono_s + np.cumsum(offsets_ms) / 1000.0


@dataclass(frozen=True)
class StepResult:
    """One calibration step: a fixed number of closed-loop users for a bounded time."""

    mode: Mode
    users: int  # the level: requests in flight aimed at (open loop: arrival rate x answer time)
    window_s: float  # the measured part of the step (after the ramp and warm-up)
    requests: int  # successful requests that started and ended inside the window
    failed: int  # failed requests of the whole step
    requests_per_s: float  # successful requests ended in the window / window_s
    in_flight: float  # mean requests in flight over the window (time-weighted)
    chunks_per_s: float | None  # content chunks received in the window / window_s (streamed)
    lg_cpu_pct: float | None  # load-generator CPU, % of one core, over the window
    foreign_cores: float | None  # other work on the machine over the window, in cores
    truth: dict[str, Any]  # TruthReport.to_dict() of the requests in the window
    passed: bool  # no failure and every p99 |error| <= the limit

    @property
    def worst_p99_ms(self) -> float | None:
        value = self.truth.get("worst_p99_ms")
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_step(
    mode: Mode,
    users: int,
    records: Sequence[Record],
    truth: dict[str, ServerTiming],
    window: tuple[float, float],
    *,
    error_limit_ms: float,
    lg_cpu_pct: float | None,
    foreign_cores: float | None,
) -> tuple[StepResult, TruthReport]:
    """Figures of one step from its records and the truth log, over the monotonic ``window``."""
    w0, w1 = window
    window_s = max(w1 - w0, 1e-9)
    failed = sum(1 for r in records if not r.ok and r.error_kind != "cancelled")
    inside = [
        r
        for r in records
        if r.ok and r.e2e_ms is not None and r.start_mono_s >= w0 and r.start_mono_s + r.e2e_ms / 1000 <= w1
    ]
    ended = sum(
        1 for r in records if r.ok and r.e2e_ms is not None and w0 <= r.start_mono_s + r.e2e_ms / 1000 < w1
    )
    busy_s = 0.0
    for r in records:
        if r.e2e_ms is not None:
            busy_s += max(0.0, min(w1, r.start_mono_s + r.e2e_ms / 1000) - max(w0, r.start_mono_s))
    chunks_per_s = None
    if mode == "stream":
        received = 0
        for r in records:
            if r.ok and r.stream:
                t = chunk_times(r)
                received += int(np.count_nonzero((t >= w0) & (t < w1)))
        chunks_per_s = received / window_s
    report = compare(inside, {r.request_id: truth[r.request_id] for r in inside if r.request_id in truth})
    passed = failed == 0 and not report.records_without_truth and report.within(error_limit_ms)
    result = StepResult(
        mode=mode,
        users=users,
        window_s=window_s,
        requests=len(inside),
        failed=failed,
        requests_per_s=ended / window_s,
        in_flight=busy_s / window_s,
        chunks_per_s=chunks_per_s,
        lg_cpu_pct=lg_cpu_pct,
        foreign_cores=foreign_cores,
        truth=report.to_dict(),
        passed=passed,
    )
    return result, report


# --------------------------------------------------------------------------------------------------
# The search and the verdict


@dataclass(frozen=True)
class CalibrationSettings:
    """The steps ``chatbench calibrate`` runs and the mock's pacing (one frozen set per mode of use)."""

    stream_levels: tuple[int, ...] = (32, 64, 128, 256, 512, 768)
    nonstream_levels: tuple[int, ...] = (8, 16, 32, 64, 128)
    step_s: float = 6.0  # the measured window of a step
    budget_s: float = 150.0  # no step starts when it could end after this (the whole command is bounded)
    ramp_s: float = 1.0  # open loop: time for the number in flight to reach its level (one answer)
    warmup_s: float = 1.0  # after the ramp, before the window
    error_limit_ms: float = 1.0
    ttft_ms: float = 100.0  # mock: time to first token of a stream (no queue: batch slots >= users)
    itl_ms: float = 20.0  # mock: gap between content chunks (one token per chunk)
    output_tokens: int = 32  # mock: tokens per answer
    nonstream_ms: float = 20.0  # mock: time to the whole non-streamed answer

    def answer_s(self, mode: Mode) -> float:
        """How long the mock takes over one answer, s (the Little's-law factor from rate to concurrency)."""
        if mode == "stream":
            return (self.ttft_ms + (self.output_tokens - 1) * self.itl_ms) / 1000.0
        return self.nonstream_ms / 1000.0

    @classmethod
    def quick(cls) -> CalibrationSettings:
        """About 30-40 s: fewer, shorter steps."""
        return cls(stream_levels=(64, 256), nonstream_levels=(16, 64), step_s=3.0, budget_s=45.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Calibration:
    """What one load-generator process sustains here, with every step that led to it."""

    settings: CalibrationSettings
    steps: tuple[StepResult, ...]
    cpu_count: int
    elapsed_s: float
    notes: tuple[str, ...] = field(default=())

    def best(self, mode: Mode) -> StepResult | None:
        """The highest passing step of ``mode`` (None when even the lowest failed)."""
        passing = [s for s in self.steps if s.mode == mode and s.passed]
        return max(passing, key=lambda s: s.users) if passing else None

    def to_dict(self) -> dict[str, Any]:
        stream, nonstream = self.best("stream"), self.best("nonstream")
        return {
            "error_limit_ms": self.settings.error_limit_ms,
            "cpu_count": self.cpu_count,
            "elapsed_s": self.elapsed_s,
            "stream": {
                "max_streams": stream.users if stream else 0,
                "chunks_per_s": stream.chunks_per_s if stream else 0.0,
                "lg_cpu_pct": stream.lg_cpu_pct if stream else None,
                "worst_p99_ms": stream.worst_p99_ms if stream else None,
                "limited_by_levels": bool(stream and stream.users == max(self.settings.stream_levels)),
            },
            "nonstream": {
                "max_concurrency": nonstream.users if nonstream else 0,
                "requests_per_s": nonstream.requests_per_s if nonstream else 0.0,
                "lg_cpu_pct": nonstream.lg_cpu_pct if nonstream else None,
                "worst_p99_ms": nonstream.worst_p99_ms if nonstream else None,
                "limited_by_levels": bool(
                    nonstream and nonstream.users == max(self.settings.nonstream_levels)
                ),
            },
            "settings": self.settings.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "notes": list(self.notes),
        }


def processes_needed(target: float, per_process: float) -> int:
    """Load-generator processes for ``target`` when one sustains ``per_process`` (at least 1)."""
    if per_process <= 0:
        raise ValueError("per_process must be positive")
    return max(1, math.ceil(target / per_process - 1e-9))


# --------------------------------------------------------------------------------------------------
# Running it: chatbench's own load generator (bench.load.runner.run_load) against the embedded mock

FOREIGN_LIMIT_CORES = 0.25  # other work on the machine above this may distort a step's timing
_STEP_OVERHEAD_S = 5.0  # Locust start-up, drain and record merge around each step's load, measured here


def _scenario(mode: Mode, users: int, settings: CalibrationSettings) -> dict[str, Any]:
    """A scenario: about ``users`` requests in flight against the embedded mock, paced as ``settings`` say.

    Open loop, Poisson arrivals at ``users / answer time`` requests/s, so by Little's law about ``users``
    requests are in flight. Closed-loop users would not do: Locust starts floor(spawn_rate) users at the
    same instant, and identical requests then keep them in lock-step, every stream delivering its chunk,
    and every request ending, in the same millisecond as the others. Real arrivals are not like that.
    """
    stream = mode == "stream"
    mock = {
        "batch_slots": 100_000,  # never a queue: the server's pace is fixed, only the client varies
        "prefill_base_ms": settings.ttft_ms if stream else settings.nonstream_ms,
        "prefill_per_token_ms": 0.0,
        "tpot_ms": settings.itl_ms if stream else 0.0,
        "batch_slowdown": 0.0,
        "output_dist": "fixed",
        "output_tokens": settings.output_tokens,
    }
    return {
        "name": f"calibrate-{mode}-{users}",
        "seed": 1,
        "target": {"base_url": None, "model": "o", "profile": "seed"},
        "mock": mock,
        "prompt_sets": [{"name": "calibrate", "inline": ["请介绍一下傅利叶公司"]}],
        "sampling": {"temperature": 0.7, "stream": stream},
        "load": {
            "duration_s": settings.ramp_s + settings.warmup_s + settings.step_s + 0.5,
            "arrival": {"rate_rps": users / settings.answer_s(mode), "process": "poisson"},
        },
    }


class _MachineSampler(CpuSampler[tuple[float, float]]):
    """Samples, every ``interval_s`` in a thread, the machine's busy CPU and that of this process tree."""

    def __init__(self, interval_s: float = 0.5) -> None:
        super().__init__(interval_s, "calibrate-sampler")
        self._pid = os.getpid()

    def sample(self) -> tuple[float, float]:
        """(busy cpu s, our tree cpu s)."""
        return busy_cpu_s(), tree_cpu_s((self._pid,))

    def foreign_cores(self, w0: float, w1: float) -> float | None:
        """Busy cores not used by chatbench (its load generator and mock) between w0 and w1."""
        ends = self.ends(w0, w1)
        if ends is None:
            return None
        (t0, (b0, o0)), (t1, (b1, o1)) = ends
        return ((b1 - b0) - (o1 - o0)) / max(t1 - t0, 1e-9)


def _monitor_cpu_pct(run_dir: Path, wall0: float, wall1: float) -> float | None:
    """Mean load-generator CPU (% of one core, summed over processes) from the monitor in a wall window."""
    per_worker: dict[str, list[float]] = {}
    for path in sorted(run_dir.joinpath("monitor").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            # A sample covers the second before its stamp: keep those that lie inside the window.
            if wall0 + 1.0 <= row.get("t_s", 0.0) <= wall1 and row.get("cpu_pct") is not None:
                per_worker.setdefault(path.stem, []).append(float(row["cpu_pct"]))
    if not per_worker:
        return None
    return sum(sum(v) / len(v) for v in per_worker.values())


def run_step(
    mode: Mode, users: int, settings: CalibrationSettings, work_dir: Path, *, processes: int = 0
) -> tuple[StepResult, Path]:
    """One bounded step: a run of chatbench's load generator at ``users``; its figures and results dir.

    ``processes`` > 0 runs Locust's master with that many workers on this machine (``--processes``);
    the load-generator CPU is then the workers' sum."""
    from bench.load.runner import run_load  # heavy: imported only when calibrating

    work_dir.mkdir(parents=True, exist_ok=True)
    scenario_path = work_dir / f"{mode}-{users}{f'-p{processes}' if processes else ''}.yaml"
    scenario_path.write_text(json.dumps(_scenario(mode, users, settings)))  # JSON is valid YAML
    with _MachineSampler() as sampler:
        outcome = run_load(
            scenario_path,
            {},
            results_dir=work_dir / "results",
            progress=False,
            drain_timeout_s=10.0,
            processes=processes,
        )
    records = read_records(outcome.run_dir)
    truth = read_truth_log(outcome.truth_log) if outcome.truth_log else {}
    starts = [r.start_mono_s for r in records]
    t0 = min(starts) if starts else time.monotonic()
    w0 = t0 + settings.ramp_s + settings.warmup_s
    w1 = w0 + settings.step_s
    # Monitor samples carry wall-clock stamps; the records give the offset between the two clocks.
    offset = float(np.median([r.started_at_s - r.start_mono_s for r in records])) if records else 0.0
    lg_cpu = _monitor_cpu_pct(outcome.run_dir, w0 + offset, w1 + offset)
    step, _ = measure_step(
        mode,
        users,
        records,
        truth,
        (w0, w1),
        error_limit_ms=settings.error_limit_ms,
        lg_cpu_pct=lg_cpu,
        foreign_cores=sampler.foreign_cores(w0, w1),
    )
    return step, outcome.run_dir


def run_calibration(
    settings: CalibrationSettings,
    *,
    work_dir: Path | None = None,
    progress: Callable[[StepResult], None] | None = None,
) -> Calibration:
    """The streamed search, then the non-streamed one, each stopping at its first failing step.

    No step starts when it could end after ``settings.budget_s``; such skipped levels are noted.
    """
    started = time.monotonic()
    notes: list[str] = []
    steps: list[StepResult] = []
    step_cost_s = settings.ramp_s + settings.warmup_s + settings.step_s + 0.5 + _STEP_OVERHEAD_S
    with tempfile.TemporaryDirectory(prefix="chatbench-calibrate-") as tmp:
        base = work_dir or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        searches: tuple[tuple[Mode, tuple[int, ...]], ...] = (
            ("stream", settings.stream_levels),
            ("nonstream", settings.nonstream_levels),
        )
        for mode, levels in searches:
            mode_steps: list[StepResult] = []
            # The budget is shared: the non-streamed search keeps enough time for its first steps.
            reserve_s = step_cost_s * 2 if mode == "stream" else 0.0
            retried = False
            levels_left = sorted(levels)
            while levels_left:
                users = levels_left[0]
                if time.monotonic() - started + step_cost_s + reserve_s > settings.budget_s:
                    notes.append(
                        f"{mode}: stopped before {users} users to stay within {settings.budget_s:.0f} s"
                    )
                    break
                step, _ = run_step(mode, users, settings, base)
                if progress is not None:
                    progress(step)
                mode_steps.append(step)
                if step.passed:
                    levels_left.pop(0)
                    continue
                busy = step.foreign_cores is not None and step.foreign_cores > FOREIGN_LIMIT_CORES
                if busy and not retried:
                    # Other work on a shared machine, not this load, may have failed the step: once per
                    # search, run it again (both attempts are kept in the table).
                    retried = True
                    notes.append(
                        f"{mode} at {users} users: {step.foreign_cores:.2f} cores of other work were running; "
                        "the step was run again"
                    )
                    continue
                if busy:
                    notes.append(
                        f"{mode} at {users} users: {step.foreign_cores:.2f} cores of other work were running "
                        "on this machine; the figures are pessimistic"
                    )
                break
            steps += mode_steps
    return Calibration(
        settings=settings,
        steps=tuple(steps),
        cpu_count=os.cpu_count() or 1,
        elapsed_s=time.monotonic() - started,
        notes=tuple(notes),
    )
