"""CPU of given processes and of the whole machine, from /proc (psutil).

The machine-load meter of the self-checks: ``chatbench calibrate`` samples it during each step, and the
scripts in ``benchmarks/`` use ``CpuMeter`` to report client CPU and the foreign load of a shared machine.
``CpuSampler`` is the one thread that samples CPU seconds while a step runs (calibrate's machine sampler,
``benchmarks/scale_out.py``'s per-process one), each subclass saying what one sample holds.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

__all__ = ["CpuMeter", "CpuSampler", "CpuUsage", "busy_cpu_s", "tree_cpu_s", "wait_for_quiet"]

T = TypeVar("T")
S = TypeVar("S", bound="CpuSampler[Any]")


@dataclass(frozen=True)
class CpuUsage:
    """CPU use over a window, in % of one core, and what else the machine was doing."""

    window_s: float
    client_pct: float  # the measured client processes (and their children)
    server_pct: float  # the server processes
    busy_cores: float  # whole machine, in cores (1.0 = one core fully busy)
    foreign_cores: float  # busy_cores - client - server: other work on a shared machine (and softirq)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def tree_cpu_s(pids: Iterable[int]) -> float:
    """User + system CPU seconds of the processes and all their live descendants."""
    import psutil

    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
    return total


def busy_cpu_s() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores, idle and iowait excluded)."""
    import psutil

    t = psutil.cpu_times()
    # guest time is already counted in user time on Linux; iowait is idle time waiting for a disk.
    not_busy = ("idle", "iowait", "guest", "guest_nice")
    return sum(t) - sum(getattr(t, name, 0.0) for name in not_busy)


class CpuMeter:
    """Measures client, server and foreign CPU between ``start()`` and ``stop()``.

    Client and server are given as callables returning pids, because the load generator's worker
    processes may only exist once the run has started. A process that exits inside the window takes
    its CPU time with it, so keep the window inside the processes' lives.
    """

    def __init__(self, client_pids: Callable[[], Sequence[int]], server_pids: Callable[[], Sequence[int]]):
        self._client = client_pids
        self._server = server_pids
        self._t0 = self._c0 = self._s0 = self._b0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._c0 = tree_cpu_s(self._client())
        self._s0 = tree_cpu_s(self._server())
        self._b0 = busy_cpu_s()

    def stop(self) -> CpuUsage:
        window = max(time.perf_counter() - self._t0, 1e-9)
        client = (tree_cpu_s(self._client()) - self._c0) / window
        server = (tree_cpu_s(self._server()) - self._s0) / window
        busy = (busy_cpu_s() - self._b0) / window
        return CpuUsage(
            window_s=window,
            client_pct=100.0 * client,
            server_pct=100.0 * server,
            busy_cores=busy,
            foreign_cores=busy - client - server,
        )


def wait_for_quiet(max_wait_s: float, quiet_cores: float = 0.3) -> float:
    """Wait (at most ``max_wait_s``) until the machine's busy cores fall below ``quiet_cores``; returns them."""
    deadline = time.monotonic() + max_wait_s
    while True:
        meter = CpuMeter(lambda: (), lambda: ())
        meter.start()
        time.sleep(1.0)
        busy = meter.stop().busy_cores
        if busy < quiet_cores or time.monotonic() >= deadline:
            return busy


class CpuSampler(ABC, Generic[T]):
    """Takes ``sample()`` every ``interval_s`` in a daemon thread inside a ``with`` block, the first at
    once, and keeps ``samples``: (monotonic s, sample) pairs; ``ends`` gives those that bound a window."""

    def __init__(self, interval_s: float, name: str) -> None:
        self.samples: list[tuple[float, T]] = []
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self: S) -> S:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    @abstractmethod
    def sample(self) -> T:
        """One sample, taken in the sampler's thread (CPU seconds so far: a window's use is a difference)."""

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            self.samples.append((now, self.sample()))
            if self._stop.wait(self._interval_s):
                return

    def ends(self, w0: float, w1: float) -> tuple[tuple[float, T], tuple[float, T]] | None:
        """The first and the last sample taken in [w0, w1] (monotonic s), or None under two."""
        inside = [s for s in self.samples if w0 <= s[0] <= w1]
        return (inside[0], inside[-1]) if len(inside) >= 2 else None
