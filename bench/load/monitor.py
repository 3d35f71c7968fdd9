"""Watch the load generator itself: CPU use and event-loop lag, one sample a second per process.

Millisecond timing is only as good as the process taking the timestamps: measured here, the p99
timestamp error of the streaming client stays within about 2 ms below 30 % of a core and about 8 ms
below 50 %, then explodes (``shared/research/client-bench.md``). Locust itself warns only at 90 %.
So each process emits one line a second, which its record stream carries to the run's writer
(``bench.load.stream``), which appends it to ``monitor/<worker>.jsonl``:

    {"t_s": <wall clock>, "worker": "local", "cpu_pct": 23.5, "loop_lag_ms": 0.4}

(the format ``bench.analysis.bottleneck`` reads) and logs a warning when CPU passes ``warn_cpu_pct``.

- ``cpu_pct`` = (user + system CPU seconds of this process over the interval) / (wall seconds) × 100,
  in % of one core (from ``os.times``).
- ``loop_lag_ms`` = how much later than asked a ``gevent.sleep(0.1)`` woke up, in ms: the time any
  greenlet (a stream being read) may wait before it runs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import gevent
import orjson

__all__ = ["Monitor"]

log = logging.getLogger("chatbench")
_PROBE_S = 0.1


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


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
        cpu0, wall0 = _cpu_s(), time.perf_counter()
        while True:
            asked = time.perf_counter()
            gevent.sleep(_PROBE_S)
            woke = time.perf_counter()
            lag_ms = max(0.0, (woke - asked - _PROBE_S) * 1000.0)
            gevent.sleep(max(0.0, self.interval_s - (woke - wall0)))
            cpu1, wall1 = _cpu_s(), time.perf_counter()
            cpu_pct = 100.0 * (cpu1 - cpu0) / max(wall1 - wall0, 1e-6)
            cpu0, wall0 = cpu1, wall1
            self.latest_cpu_pct, self.latest_lag_ms = cpu_pct, lag_ms
            self._write(cpu_pct, lag_ms)
            if cpu_pct > self.warn_cpu_pct and wall1 - self._warned_at > 30.0:
                self._warned_at = wall1
                log.warning(
                    "load generator %s at %.0f%% of a core (above %.0f%%): its timestamps may be late; "
                    "add --processes or lower the load",
                    self.worker,
                    cpu_pct,
                    self.warn_cpu_pct,
                )

    def _write(self, cpu_pct: float, lag_ms: float) -> None:
        line = {
            "t_s": time.time(),
            "worker": self.worker,
            "cpu_pct": round(cpu_pct, 2),
            "loop_lag_ms": round(lag_ms, 3),
        }
        self._emit(orjson.dumps(line))
