"""The per-request values the gates judge, read through ``bench.analysis`` (one loader, one definition).

Every gate (SLO verdict, compare, capacity) takes its values from here, so the three can never disagree
with each other or with the report about what "TPOT p99" means: the frame is
``bench.analysis.frames.load_records`` (merged records of every load-generator process) and the latency
values are ``bench.analysis.metrics.latency_values``. Never Locust's statistics.

Which requests count (``docs/metrics.md``):

- records whose ``error_kind`` is ``cancelled`` are left out everywhere: the run itself cut them off
  when it ended, they are not answers of the server;
- latency values come from successful requests only;
- error rate = failed requests / all counted requests, a fraction.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis.frames import RecordFrame, frame_from_records, load_json, load_records
from bench.analysis.metrics import latency_values
from bench.analysis.window import Window, auto_window, manual_window, parse_window
from bench.errors import ResultsError
from bench.records import Record

__all__ = [
    "Records",
    "as_frame",
    "counted_mask",
    "error_rate",
    "load_scenario_json",
    "metric_values",
    "window_mask",
]

Records = RecordFrame | str | Path | Iterable[Record]
"""What a gate accepts: a loaded frame, a results directory, or records in memory."""

WindowSpec = str | tuple[float | None, float | None] | None
"""``"steady"`` (or None): the report's steady-state window; ``"whole"``: every request; ``"START:END"``
or a pair: seconds from the run start, as ``chatbench report --window``."""

_LATENCY_KEYS = {"ttft_ms": "ttft", "tpot_ms": "tpot", "itl_ms": "itl", "e2e_ms": "e2e"}


def as_frame(records: Records) -> RecordFrame:
    """A ``RecordFrame`` of ``records`` (a results directory is read; ``ResultsError`` when missing/empty)."""
    if isinstance(records, RecordFrame):
        return records
    if isinstance(records, (str, Path)):
        frame = load_records(records)
        if len(frame) == 0:
            raise ResultsError(f"{records}: no records (the records files are empty)")
        return frame
    return frame_from_records(records)


def load_scenario_json(run_dir: str | Path) -> dict[str, Any]:
    """The resolved scenario of a run (``scenario.json``), or ``{}`` when the file is absent."""
    return load_json(Path(run_dir, "scenario.json"))


def counted_mask(frame: RecordFrame) -> np.ndarray:
    """True for every request that counts: all but those the run cancelled when it ended."""
    return np.array(frame.df["error_kind"] != "cancelled", dtype=bool)  # a writable copy


def metric_values(frame: RecordFrame, metric: str, mask: np.ndarray | None = None) -> np.ndarray:
    """Raw values (ms) of ``ttft_ms``, ``tpot_ms``, ``itl_ms`` (every chunk gap, pooled) or ``e2e_ms``.

    Successful requests within ``mask`` (default: every counted request); the formulas are those of
    ``bench.analysis.metrics`` (TPOT = (E2E - TTFT) / (output_tokens - 1)).
    """
    if metric not in _LATENCY_KEYS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(_LATENCY_KEYS)}")
    selected = counted_mask(frame) if mask is None else mask
    return latency_values(frame, selected)[_LATENCY_KEYS[metric]]


def error_rate(frame: RecordFrame, mask: np.ndarray | None = None) -> float | None:
    """failed / all counted requests within ``mask`` (a fraction, 0..1); None when there is none."""
    selected = counted_mask(frame) if mask is None else mask & counted_mask(frame)
    total = int(selected.sum())
    if total == 0:
        return None
    failed = int((selected & ~frame.df["ok"].to_numpy(dtype=bool)).sum())
    return failed / total


def window_mask(frame: RecordFrame, window: WindowSpec = "steady") -> tuple[np.ndarray, str]:
    """The counted requests inside ``window`` and a few words saying which window that is.

    The steady-state window is the report's (``bench.analysis.window.auto_window``): a request belongs to
    it when it *ended* inside it; when no plateau exists the whole run is used, as in the report.
    """
    counted = counted_mask(frame)
    df = frame.df
    start_s, end_s = df["start_s"].to_numpy(), df["end_s"].to_numpy()
    if window == "whole" or len(df) == 0:
        return counted, "whole run"
    if window is None or window == "steady":
        win = auto_window(start_s, end_s)
    else:
        bounds = parse_window(window) if isinstance(window, str) else window
        run_end_s = float(max(end_s.max(), start_s.max()))
        win = manual_window(bounds[0], bounds[1], run_end_s)
    if win.source == "whole_run":
        return counted, "whole run (no steady-state plateau)"
    inside = (end_s >= win.start_s) & (end_s < win.end_s)
    return counted & inside, _describe(win)


def _describe(win: Window) -> str:
    kind = "steady-state window" if win.source == "auto" else "window"
    return f"{kind} {win.start_s:.1f}-{win.end_s:.1f} s"
