"""The per-request values the gates judge, read through ``bench.analysis`` (one loader, one definition).

Every gate (SLO verdict, compare, capacity) takes its values from here, so the three can never disagree
with each other or with the report about what "TPOT p99" means: the frame is
``bench.analysis.frames.load_records`` (merged records of every load-generator process) and the values
of a metric are those of its module in ``bench.metrics``. Never Locust's statistics.

Which requests count is decided in one place, ``bench.analysis.selection`` (``docs/metrics.md``):

- records whose ``error_kind`` is ``cancelled`` are left out everywhere: the run itself cut them off
  when it ended, they are not answers of the server;
- error rate = failed / every other request the run sent (all of them started while load was offered);
- latency values come from the successful requests that ended inside the steady-state window, which
  is decided from the run's schedule of offered load (``bench.analysis.window``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench import metrics
from bench.analysis.frames import RecordFrame, frame_from_records, load_json, load_records
from bench.analysis.selection import Selection, WindowSpec, select, select_run
from bench.errors import ResultsError
from bench.records import Record
from bench.scenario.slo import Slo

__all__ = [
    "Records",
    "WindowSpec",
    "as_frame",
    "counted_mask",
    "error_rate",
    "load_scenario_json",
    "metric_values",
    "run_slo",
    "selection",
]

Records = RecordFrame | str | Path | Iterable[Record]
"""What a gate accepts: a loaded frame, a results directory, or records in memory."""


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


def run_slo(run_dir: str | Path) -> Slo:
    """The SLOs a finished run was judged by: the ``slo`` the gate wrote into ``slo.json`` (the
    scenario's with ``--slo``/``--no-slo`` on top), else the ``slo`` block of ``scenario.json``."""
    judged = load_json(Path(run_dir, "slo.json"))
    if "slo" in judged:
        return Slo.from_dict(judged["slo"])
    return Slo.from_dict(load_scenario_json(run_dir).get("slo"))


def load_scenario_json(run_dir: str | Path) -> dict[str, Any]:
    """The resolved scenario of a run (``scenario.json``), or ``{}`` when the file is absent."""
    return load_json(Path(run_dir, "scenario.json"))


def counted_mask(frame: RecordFrame) -> np.ndarray:
    """True for every request that counts: all but those the run cancelled when it ended."""
    return np.array(frame.df["error_kind"] != "cancelled", dtype=bool)  # a writable copy


def metric_values(frame: RecordFrame, metric: str, mask: np.ndarray | None = None) -> np.ndarray:
    """The samples of a latency metric of ``bench.metrics`` (``ttft_ms``, ``itl_ms``: every chunk gap...).

    Requests within ``mask`` (default: every counted request) for which the metric is defined
    (successful ones; streamed ones for TTFT...); the formula is in the metric's module.
    """
    latency = metrics.names(kind="latency")
    if metric not in latency:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(latency)}")
    selected = counted_mask(frame) if mask is None else mask
    return metrics.get(metric).values(frame, selected)


def error_rate(frame: RecordFrame, mask: np.ndarray | None = None) -> float | None:
    """failed / all counted requests within ``mask`` (a fraction, 0..1); None when there is none."""
    selected = counted_mask(frame) if mask is None else mask & counted_mask(frame)
    total = int(selected.sum())
    if total == 0:
        return None
    failed = int((selected & ~frame.df["ok"].to_numpy(dtype=bool)).sum())
    return failed / total


def selection(records: Records, frame: RecordFrame, window: WindowSpec = "steady") -> Selection:
    """Which requests of ``frame`` count (``bench.analysis.selection.select``).

    When ``records`` is a results directory its schedule (``run.json`` + ``scenario.json``) decides the
    steady-state window, exactly as in the report; records in memory have no schedule: the whole run.
    """
    if isinstance(records, (str, Path)):
        return select_run(records, frame, window)
    return select(frame, None, window)
