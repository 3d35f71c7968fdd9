"""Watch the load generator itself: CPU use, event-loop lag and page faults, one sample a second per process.

Millisecond timing is only as good as the process taking the timestamps: measured here, the p99
timestamp error of the streaming client stays within about 2 ms below 30 % of a core and about 8 ms
below 50 %, then explodes (``shared/research/client-bench.md``). Locust itself warns only at 90 %.
So each process emits one line a second, which its record stream carries to the run's writer
(``bench.load.stream``), which appends it to ``monitor/<worker>.jsonl``:

    {"t_s": <wall clock>, "worker": "local", "cpu_pct": 23.5, "loop_lag_ms": 0.4, "late_ms": 2.1, "majflt": 0}

(the format ``bench.analysis.bottleneck`` reads) and logs a warning when CPU passes ``warn_cpu_pct``.

- ``cpu_pct`` = (user + system CPU seconds of this process over the interval) / (wall seconds) × 100,
  in % of one core (from ``os.times``).
- ``loop_lag_ms`` = the most that any of the interval's back-to-back ``gevent.sleep(0.01)`` woke up
  later than asked, in ms: the longest a greenlet (a stream being read) had to wait before it ran. The
  ticks cover the whole interval, so a single stall of the process (a blocking call, a page read from
  disk) is seen, to within one tick.
- ``late_ms`` = the sum of the lateness of the interval's ticks that woke more than 2 ms late, in ms:
  how long, in all, the loop was not there to run a greenlet. A stream's chunk waits at most this long within the interval, also
  when several stalls follow each other (a process that the kernel runs in slices).
- ``majflt`` = major page faults of this process over the interval (``getrusage``): pages of its code
  or data read back from disk, each a stall of the whole process.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable

import gevent
import orjson

__all__ = ["Monitor"]

log = logging.getLogger("chatbench")
_TICK_S = 0.01
_LATE_S = (
    0.002  # a tick later than this counts in late_ms (an idle loop wakes about 1 ms late: libev rounds to ms)
)


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def _majflt() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_majflt


class Monitor:
    """Samples this process once per ``interval_s`` in a background greenlet; ``emit`` gets each line."""

    def __init__(
        self,
        emit: Callable[[bytes], None],
        worker: str,
        *,
        interval_s: float = 1.0,
        warn_cpu_pct: float = 50.0,
    ) -> None:
        self._emit = emit
        self.worker = worker
        self.interval_s = interval_s
        self.warn_cpu_pct = warn_cpu_pct
        self.latest_cpu_pct: float | None = None
        self.latest_lag_ms: float | None = None
        self._warned_at = -1e9
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _loop(self) -> None:
        cpu0, wall0, faults0 = _cpu_s(), time.perf_counter(), _majflt()
        while True:
            lag_s, late_s, end = 0.0, 0.0, wall0 + self.interval_s
            while (asked := time.perf_counter()) < end:
                gevent.sleep(_TICK_S)
                late = time.perf_counter() - asked - _TICK_S
                lag_s = max(lag_s, late)
                late_s += late if late > _LATE_S else 0.0
            cpu1, wall1, faults1 = _cpu_s(), time.perf_counter(), _majflt()
            cpu_pct = 100.0 * (cpu1 - cpu0) / max(wall1 - wall0, 1e-6)
            lag_ms = max(0.0, lag_s * 1000.0)
            cpu0, wall0, faults = cpu1, wall1, faults1 - faults0
            faults0 = faults1
            self.latest_cpu_pct, self.latest_lag_ms = cpu_pct, lag_ms
            self._write(cpu_pct, lag_ms, late_s * 1000.0, faults)
            if cpu_pct > self.warn_cpu_pct and wall1 - self._warned_at > 30.0:
                self._warned_at = wall1
                log.warning(
                    "load generator %s at %.0f%% of a core (above %.0f%%): its timestamps may be late; "
                    "add --processes or lower the load",
                    self.worker,
                    cpu_pct,
                    self.warn_cpu_pct,
                )

    def _write(self, cpu_pct: float, lag_ms: float, late_ms: float, majflt: int) -> None:
        line = {
            "t_s": time.time(),
            "worker": self.worker,
            "cpu_pct": round(cpu_pct, 2),
            "loop_lag_ms": round(lag_ms, 3),
            "late_ms": round(late_ms, 3),
            "majflt": majflt,
        }
        self._emit(orjson.dumps(line))
