"""The pass/fail bounds of the timing tests: between scheduler noise and a real timing bug.

On a quiet 2-core CI machine the kernel can wake a process about ``NOISE_MS`` (2 ms) late at any
moment, and a p99 over a few thousand timestamps catches such a moment (the 2.04 ms p99 that failed a
fresh CI run against a 1 ms bound was one). A real timing bug in chatbench or the mock (a reader that
batches events, a timer that fires a tick late, a flush that waits) moves timestamps by tens of
milliseconds: the smallest one the tests must catch is ``BUG_MS`` (+50 ms, a batching bug). The bounds
sit between the two, with a wide margin on each side:

- ``MEDIAN_MS`` (5 ms): the median error, which noise never moves by more than its own size;
- ``TAIL_MS`` (10 ms): the p90/p99 error on a quiet machine (5x the noise, a fifth of the bug);
- ``NOISY_TAIL_MS`` (25 ms): the tail when the machine is visibly busy (``noisy``), still half the bug.

The sub-millisecond accuracy chatbench reaches is a measured figure, not a pass/fail bound: it is printed
by ``benchmarks/truth_sweep.py`` and ``chatbench calibrate`` and quoted in the README with its range.
``tests/test_timing_bounds.py`` checks that these bounds pass 2 ms of noise and fail a 50 ms bug.

Beyond the scheduler's 2 ms, CI machines stall now and then: full CI runs of this repository on a quiet
2-core VM saw one timing test in ~760 fail per run, each time with p99 errors of 50-120 ms on a few
requests while the load generator used 6 % of a core and nothing else ran, and each passed when run
again. A test marked ``timing_test`` is therefore run once more when an assertion fails: a real timing
bug moves every run (it fails both), a stall of the machine does not come back at the same place.

Some stalls did come back (the 64-stream test failed twice in a row in one CI run). So a test marked
``timing_test`` also runs a ``StallProbe`` beside it (``tests/conftest.py``): an independent process
that sleeps 2 ms at a time and notes every wake-up more than 5 ms late. When the probe saw the machine
stall, the tail may be off by that stall on top of ``TAIL_MS`` (``tail_limit_ms``): a frozen VM delays
every process alike, and nothing a client does can time through it.

The probe does not see a stall of the load generator's own process alone, and those came back too: in
4 of 8 full CI runs the 64-stream test's tail failed with one 50-190 ms stall while the probe saw the
machine stall 9 ms. So the tail is also allowed the stall the run's own monitor *reported*
(``bench.load.monitor``: ticks every 10 ms, ``late_ms`` the total lateness of each second; the summary
names a stall above 50 ms): ``own_stall_ms``. That is chatbench's promise to its users, an exact time or
a stall it says it had, and what the tests check. A timing bug that moves timestamps without stalling the
loop (a reader that batches events, a stamp in the wrong place) is not excused, and the median bound
holds always: a +50 ms bug moves the median, a stall moves a few requests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bench.analysis.bottleneck import STALL_NOTE_MS, assess, read_monitor
from bench.stats import percentile

_F = TypeVar("_F", bound=Callable[..., Any])


def timing_test(test: _F) -> _F:
    """Marks a test judged by these bounds: a stall probe runs beside it, and it runs once more when
    it fails (see the module docstring)."""
    marked: _F = pytest.mark.timing(pytest.mark.flaky(reruns=1, only_rerun=["AssertionError"])(test))
    return marked


NOISE_MS = 2.0
BUG_MS = 50.0
MEDIAN_MS = 5.0
TAIL_MS = 10.0
NOISY_TAIL_MS = 25.0
LAG_NOISE_MS = 5.0  # the run's own monitor saw its event loop wake this late: the machine was busy


STALL_MS = 5.0  # the stall probe notes a wake-up this much later than its 2 ms sleep
_PROBE = """
import os, sys, time
parent, out, late = os.getppid(), open(sys.argv[1], "a", buffering=1), float(sys.argv[2]) / 1000
end = last = time.monotonic()
end += 1800
while last < end and os.getppid() == parent:
    time.sleep(0.002)
    now = time.monotonic()
    if now - last - 0.002 > late:
        out.write(f"{last:.6f} {(now - last - 0.002) * 1000:.3f}\\n")
    last = now
"""


class StallProbe:
    """An independent process noting when the machine stalled (see the module docstring); it stops
    when closed, when the test process ends, or after 30 minutes."""

    def __init__(self) -> None:
        fd, name = tempfile.mkstemp(prefix="chatbench-stalls-", suffix=".txt")
        os.close(fd)
        self.path = Path(name)
        self._proc = subprocess.Popen([sys.executable, "-c", _PROBE, name, str(STALL_MS)])

    def stalls_ms(self) -> list[float]:
        """How late each stall so far woke the probe, in ms."""
        return [
            float(line.split()[1]) for line in self.path.read_text().splitlines() if len(line.split()) == 2
        ]

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()
        self.path.unlink(missing_ok=True)


PROBE: StallProbe | None = None  # the probe of the timing test running now (tests/conftest.py)


def machine_stall_ms() -> float:
    """The longest stall the running test's probe saw so far (0 without a probe)."""
    return max(PROBE.stalls_ms(), default=0.0) if PROBE is not None else 0.0


def noisy(run_dir: Path | None = None) -> str | None:
    """Why this moment's tail cannot be held to ``TAIL_MS``, or None on a quiet machine: the stall
    probe saw the machine stall, the load average is above 75 % of the cores, or the run's own monitor
    saw its event loop wake late."""
    stall = machine_stall_ms()
    if stall > STALL_MS:
        return f"the machine stalled {stall:.0f} ms (an independent probe process)"
    load = os.getloadavg()[0]
    if load >= 0.75 * (os.cpu_count() or 1):
        return f"load average {load:.1f}"
    if run_dir is not None:
        lags = [r["loop_lag_ms"] for r in read_monitor(run_dir)]
        if lags and max(lags) > LAG_NOISE_MS:
            return f"event loop woke {max(lags):.0f} ms late"
    return None


def own_stall_ms(run_dir: Path | None) -> float:
    """The most the run's load generator reported its loop late over any two seconds in a row (the sum
    of the ``late_ms`` of both, per process): the longest a chunk could have waited, on its own report.
    Below ``STALL_NOTE_MS`` it is no excuse, to keep the tail bound's bite on a quiet machine."""
    if run_dir is None:
        return 0.0
    worst = 0.0
    by_worker: dict[str, list[float]] = {}
    for r in sorted(read_monitor(run_dir), key=lambda r: r["t_s"]):
        by_worker.setdefault(str(r.get("worker")), []).append(float(r.get("late_ms") or 0.0))
    for late in by_worker.values():
        worst = max([worst, *(a + b for a, b in zip(late, [*late[1:], 0.0], strict=True))])
    return worst if worst > STALL_NOTE_MS else 0.0


def stall_story(run_dir: Path) -> str:
    """The load generator's worst second, for a failure message: its loop lag and page faults."""
    rows = read_monitor(run_dir)
    if not rows:
        return "no monitor samples"
    worst = max(rows, key=lambda r: float(r["loop_lag_ms"]))
    faults = sum(int(r.get("majflt") or 0) for r in rows)
    return (
        f"load generator's longest stall {worst['loop_lag_ms']:.1f} ms ({worst.get('majflt', '?')} major "
        f"faults that second, {faults} in the run), its reported lateness {own_stall_ms(run_dir):.0f} ms "
        f"over two seconds, machine stall {machine_stall_ms():.0f} ms"
    )


def stall_said(run_dir: Path) -> bool:
    """The run's summary told its user the load generator stalled, or marked its timing inflated: what
    makes a stall the tail bound allows (``own_stall_ms``) a stall the user knows of."""
    health = assess(run_dir)
    return health.stall is not None or health.inflated


def allowed_stall_ms(run_dir: Path | None = None) -> float:
    """The stall a timing bound allows on top of itself: the whole machine's, as the probe saw it, or
    the run's load generator's, as its monitor reported it (``own_stall_ms``)."""
    return max(machine_stall_ms(), own_stall_ms(run_dir))


def tail_limit_ms(noise: str | None, run_dir: Path | None = None) -> float:
    """The tail bound: ``TAIL_MS``, ``NOISY_TAIL_MS`` on a busy machine, and never less than
    ``TAIL_MS`` on top of ``allowed_stall_ms``."""
    return max(NOISY_TAIL_MS if noise else TAIL_MS, TAIL_MS + allowed_stall_ms(run_dir))


def timing_failure(
    errors_ms: Sequence[float] | Iterable[float], *, tail: float = 99.0, noise: str | None = None
) -> str | None:
    """Why these absolute timing errors (ms) fail the bounds, or None when they pass."""
    values = [abs(float(e)) for e in errors_ms]
    if not values:
        return "no timing value to check"
    p50, high = percentile(values, 50), percentile(values, tail)
    limit = tail_limit_ms(noise)
    if p50 > MEDIAN_MS:
        return f"median error {p50:.2f} ms > {MEDIAN_MS} ms"
    if high > limit:
        return f"p{tail:g} error {high:.2f} ms > {limit} ms" + (f" (busy machine: {noise})" if noise else "")
    return None
