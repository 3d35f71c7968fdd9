"""The steady-state window: the part of a run between warm-up and ramp-down.

Figures taken over a whole run mix the ramp-up (few users, short queues) and the ramp-down (the last
requests finishing alone) into the steady state a capacity question is about. The window is either
given (``--window START:END``, seconds from the run start) or found automatically:

1. requests in flight are counted on a 0.1 s grid (a request is in flight from ``start_s`` to
   ``end_s``) and averaged over each second;
2. the plateau level is the median of those per-second averages that reach at least half of their
   maximum (the seconds spent near the top, not the ramps);
3. the window runs from the first to the last second whose average is at least
   ``PLATEAU_FRACTION`` (90 %) of the plateau level.

When that leaves less than ``MIN_WINDOW_S`` seconds, or under ``MIN_WINDOW_REQUESTS`` requests, the
whole run is the window (and the summary says so). A request belongs to a window when it *ended*
inside it (``start <= end_s < end``), so throughput is "answers per second" there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.errors import UsageError

__all__ = [
    "MIN_WINDOW_REQUESTS",
    "MIN_WINDOW_S",
    "PLATEAU_FRACTION",
    "Window",
    "auto_window",
    "in_flight",
    "parse_window",
]

PLATEAU_FRACTION = 0.9
MIN_WINDOW_S = 2.0
MIN_WINDOW_REQUESTS = 10
GRID_STEP_S = 0.1

WindowSource = Literal["manual", "auto", "whole_run"]


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
    if (start is not None and start < 0) or (start is not None and end is not None and end <= start):
        raise UsageError(f"--window {text!r}: need 0 <= START < END")
    return start, end


def in_flight(start_s: np.ndarray, end_s: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """How many requests were in flight (started at or before t, not yet ended) at each of ``times_s``."""
    starts = np.sort(start_s)
    ends = np.sort(end_s)
    return np.searchsorted(starts, times_s, side="right") - np.searchsorted(ends, times_s, side="right")


def per_second_in_flight(start_s: np.ndarray, end_s: np.ndarray, duration_s: float) -> np.ndarray:
    """Mean requests in flight during each whole second [k, k+1) of the run."""
    seconds = max(int(np.ceil(duration_s)), 1)
    steps = round(1 / GRID_STEP_S)
    grid = (np.arange(seconds * steps) + 0.5) * GRID_STEP_S
    counts = in_flight(start_s, end_s, grid).astype(np.float64)
    return counts.reshape(seconds, steps).mean(axis=1)


def auto_window(start_s: np.ndarray, end_s: np.ndarray) -> Window:
    """The steady-state window found from requests in flight (see the module docstring)."""
    if start_s.size == 0:
        return Window(0.0, 0.0, "whole_run", "no records")
    run_end = float(max(end_s.max(), start_s.max()))
    whole = Window(0.0, run_end, "whole_run")
    if run_end < MIN_WINDOW_S or start_s.size < MIN_WINDOW_REQUESTS:
        return Window(0.0, run_end, "whole_run", "run too short or too small for a steady-state window")
    level = per_second_in_flight(start_s, end_s, run_end)
    if level.max() <= 0:
        return whole
    plateau = float(np.median(level[level >= 0.5 * level.max()]))
    near = np.flatnonzero(level >= PLATEAU_FRACTION * plateau)
    start, end = float(near[0]), min(float(near[-1] + 1), run_end)
    in_window = np.count_nonzero((end_s >= start) & (end_s < end))
    if end - start < MIN_WINDOW_S or in_window < MIN_WINDOW_REQUESTS:
        return Window(
            0.0, run_end, "whole_run", "no steady plateau of requests in flight; using the whole run"
        )
    return Window(
        start,
        end,
        "auto",
        f"requests in flight at least {PLATEAU_FRACTION:.0%} of their plateau ({plateau:.1f})",
    )


def manual_window(start: float | None, end: float | None, run_end_s: float) -> Window:
    """The window the user asked for, clipped to the run."""
    lo = 0.0 if start is None else start
    hi = run_end_s if end is None else end
    note = ""
    if lo >= run_end_s:
        note = f"the window starts after the run ended ({run_end_s:.1f} s)"
    return Window(lo, hi, "manual", note)
