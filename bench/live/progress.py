"""The progress display of a headless run: one line, every few seconds, of what a reader watches.

Requests and errors (Locust's counters, which include the workers'), requests in flight, users, live
TTFT p50/p95 and output tokens/s over the last ``WINDOW_S`` seconds (folded from the record stream by
``bench.live.aggregate.LiveStats``, mergeable sketches: 0.5 % relative error, the report stays
exact), and the time left of the planned duration. On a terminal the line is redrawn in place with
``rich``; in a CI log (not a TTY) it is a plain line each time, so logs stay readable.

``format_line`` is pure (tests drive it); ``start_progress`` is the hook the locustfile calls.
Numbers follow ``bench.numbers``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from bench.numbers import fmt

__all__ = ["WINDOW_S", "Progress", "Snapshot", "format_line", "start_progress"]

WINDOW_S = 10.0
FOLD_EVERY = 64  # records folded at once, with a yield to the streams in flight after each fold


@dataclass(frozen=True)
class Snapshot:
    """What one progress line shows."""

    elapsed_s: float
    planned_s: float | None  # the scenario's planned duration (None: unknown)
    users: int
    requests: int
    failed: int
    in_flight: int
    ttft_p50_ms: float | None = None  # over the last WINDOW_S seconds
    ttft_p95_ms: float | None = None
    output_tokens_per_s: float | None = None
    phase: str = ""  # "step 2/4", "draining", or "" for a run without steps


def format_line(s: Snapshot) -> str:
    """``[  10 s of 20 s] requests 29 · errors 0 · in flight 3 · users 4 · TTFT p50 32.5 / p95 34.1 ms ·
    174.3 output tok/s · 10 s left`` (a dash where nothing was measured yet)."""
    clock = f"{s.elapsed_s:5.0f} s" + (f" of {s.planned_s:,.0f} s" if s.planned_s else "")
    parts = [
        *([s.phase] if s.phase else []),
        f"requests {fmt(s.requests)}",
        f"errors {fmt(s.failed)}",
        f"in flight {fmt(s.in_flight)}",
        f"users {fmt(s.users)}",
        f"TTFT p50 {fmt(s.ttft_p50_ms)} / p95 {fmt(s.ttft_p95_ms)} ms",
        f"{fmt(s.output_tokens_per_s)} output tok/s",
    ]
    if s.planned_s:
        left = max(s.planned_s - s.elapsed_s, 0.0)
        parts.append(f"{left:,.0f} s left" if left > 0 else "finishing the answers in flight")
    return f"[{clock}] " + " · ".join(parts)


class Progress:
    """Collects records (``add``) and prints ``format_line`` of a snapshot (``show``): rich on a TTY."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        window_s: float = WINDOW_S,
        pause: Callable[[], None] | None = None,
    ) -> None:
        from bench.live.aggregate import LiveStats

        self.stream = stream or sys.stdout
        self.stats = LiveStats(window_s=window_s)
        self._pause = pause  # lets the streams in flight run between two folds (gevent.sleep(0))
        self._unfolded = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._live: Any = None

    def add(self, record: Any) -> None:
        """One finished record: folded ``FOLD_EVERY`` at a time, then ``pause()`` (when given).

        Folding five seconds of records at once, at the next line, held the event loop for 25-40 ms
        at 512 streams, and every chunk due in that time was stamped late (ITL p99 +10 ms or more).
        """
        self.stats.add(record)
        self._unfolded += 1
        if self._unfolded >= FOLD_EVERY:
            self._unfolded = 0
            self.stats.fold()
            if self._pause is not None:
                self._pause()

    def live_figures(self) -> tuple[float | None, float | None, float | None]:
        """TTFT p50, p95 (ms) and output tokens/s over the last window."""
        self.stats.fold()
        view = self.stats.view("all", window=True)
        ttft = view["latency_ms"]["ttft_ms"]
        return ttft["p50"], ttft["p95"], view["output_tokens_per_s"] if view["requests"] else None

    def show(self, snapshot: Snapshot) -> None:
        line = format_line(snapshot)
        if not self.tty:
            print(line, file=self.stream, flush=True)
            return
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        if self._live is None:
            console = Console(file=self.stream, highlight=False)
            self._live = Live(Text(line), console=console, auto_refresh=False, transient=False)
            self._live.start()
        self._live.update(Text(line), refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def start_progress(
    environment: Any,
    interval_s: float,
    *,
    planned_s: float | None,
    in_flight: Callable[[], int],
    phase: Callable[[], str],
    subscribe: Callable[[Callable[[Any], None]], None],
) -> Progress:
    """Print progress every ``interval_s`` seconds until the process ends (a greenlet).

    ``subscribe(callback)`` hangs the progress off the record stream; ``in_flight()`` and ``phase()``
    are read at each line. Requests, errors and users come from ``environment``'s Locust runner.
    """
    import gevent

    progress = Progress(pause=lambda: gevent.sleep(0))
    subscribe(progress.add)
    start = time.monotonic()

    def loop() -> None:
        while True:
            gevent.sleep(interval_s)
            total = environment.stats.total
            p50, p95, tokens = progress.live_figures()
            progress.show(
                Snapshot(
                    elapsed_s=time.monotonic() - start,
                    planned_s=planned_s,
                    users=environment.runner.user_count if environment.runner is not None else 0,
                    requests=total.num_requests,  # Locust counts failed requests in both
                    failed=total.num_failures,
                    in_flight=in_flight(),
                    ttft_p50_ms=p50,
                    ttft_p95_ms=p95,
                    output_tokens_per_s=tokens,
                    phase=phase(),
                )
            )

    greenlet = gevent.spawn(loop)

    def stop(**_kw: Any) -> None:
        greenlet.kill(block=False)
        progress.close()

    environment.events.quitting.add_listener(stop)
    return progress
