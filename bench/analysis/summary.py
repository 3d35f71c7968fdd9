"""The summary of a run: every figure the reports show, as one typed ``Summary`` (``bench.analysis.schema``).

``analyze(run_dir, window=...)`` reads a results directory and returns an ``Analysis`` (the frame, the
window, the per-second series and the ``Summary``). Its JSON form, ``summary.json``, is documented in
``docs/report.md``; ``SCHEMA_VERSION`` changes when a key is renamed or removed (adding keys does not).
A figure that cannot be computed (no successful request, a zero-length window) is ``None``, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.analysis import metrics
from bench.analysis.bottleneck import LoadgenHealth, assess
from bench.analysis.frames import RecordFrame, load_json, load_records
from bench.analysis.outage import find_outages
from bench.analysis.schema import SCHEMA_VERSION, Summary
from bench.analysis.selection import Selection, WindowSpec, run_schedule, select
from bench.analysis.window import Schedule, Window, parse_window
from bench.analysis.workload import behind_warning, dropped_warning, unsent_warning, workload_summary
from bench.stats import describe

if TYPE_CHECKING:
    from bench.scenario.slo import Slo

__all__ = ["SCHEMA_VERSION", "Analysis", "Summary", "analyze", "summarize"]


@dataclass(frozen=True)
class Analysis:
    """Everything the report is drawn from."""

    frame: RecordFrame
    window: Window
    timeseries: pd.DataFrame  # metrics.per_second over the whole run
    summary: Summary
    selection: Selection  # which requests count for what (bench.analysis.selection)

    @property
    def in_window(self) -> np.ndarray:
        """Boolean row mask of the counted requests that ended in the window (latency, throughput)."""
        return self.selection.in_window

    @property
    def counted(self) -> np.ndarray:
        """Boolean row mask of the requests counted at all (every request sent, cancelled ones aside)."""
        return self.selection.counted


def analyze(
    run_dir: str | Path,
    *,
    window: str | tuple[float | None, float | None] | None = None,
    slo: Slo | None = None,
) -> Analysis:
    """Read ``run_dir`` and compute its summary; ``window`` is ``"START:END"`` seconds, or None for auto."""
    run_dir = Path(run_dir)
    bounds = parse_window(window) if isinstance(window, str) else window
    frame = load_records(run_dir)
    scenario = load_json(run_dir / "scenario.json")
    run_info = load_json(run_dir / "run.json")
    return summarize(
        frame, scenario=scenario, run_info=run_info, health=assess(run_dir), window=bounds, slo=slo
    )


def summarize(
    frame: RecordFrame,
    *,
    scenario: Mapping[str, Any] | None = None,
    run_info: Mapping[str, Any] | None = None,
    health: LoadgenHealth | None = None,
    window: WindowSpec = None,
    schedule: Schedule | None = None,
    slo: Slo | None = None,
) -> Analysis:
    """The summary of ``frame``: the steady-state window and the whole run side by side.

    The schedule of the offered load is read from ``run_info`` and ``scenario`` unless given; which
    requests count for what is ``bench.analysis.selection.select``.
    """
    scenario = scenario or {}
    run_info = run_info or {}
    df = frame.df
    n = len(df)
    start_s = df["start_s"].to_numpy()
    end_s = df["end_s"].to_numpy()
    run_end_s = float(max(end_s.max(), start_s.max())) if n else 0.0
    if schedule is None:
        schedule = run_schedule(frame, run_info, scenario)
    sel = select(frame, schedule, window)
    win = sel.window
    # The SLOs the run is judged by when given (``chatbench run`` passes the gate's), else the scenario's.
    raw_slo = slo.to_dict() if slo is not None else scenario.get("slo")
    slo_block: Mapping[str, Any] = raw_slo if isinstance(raw_slo, Mapping) else {}
    limits, ignored = metrics.slo_limits(slo_block)
    series = metrics.per_second(frame, run_end_s, limits=limits)
    outages = find_outages(frame, sel)
    warnings = [health.message] if health is not None and health.inflated else []
    if health is not None and health.stall is not None:
        warnings.append(health.stall)
    warnings += [o.describe() for o in outages]
    workload = workload_summary(frame, sel, scenario)
    warnings += [
        w
        for w in (behind_warning(workload), unsent_warning(run_info), dropped_warning(run_info, scenario))
        if w is not None
    ]

    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run": _run_block(frame, scenario, run_info, run_end_s),
        "window": sel.to_dict(),
        "steady": _section(frame, sel.counted, sel.in_window, win, slo_block),
        "whole_run": _section(
            frame, sel.counted, sel.counted, Window(0.0, run_end_s, "whole_run"), slo_block
        ),
        "breakdowns": metrics.breakdowns(frame, sel.in_window),
        "slo": {"thresholds": dict(slo_block), "per_request_limits_ms": limits, "not_per_request": ignored},
        "loadgen": health.to_dict() if health is not None else None,
        "outages": [o.to_dict() for o in outages],
        "workload": workload,
        "warnings": warnings + lost_worker_warnings(run_info),
        "notes": _notes(frame, sel),
        "timeseries": {col: series[col].tolist() for col in series.columns},
    }
    # The figures are computed JSON-shaped, then read into the typed summary once: its one parser.
    return Analysis(frame, win, series, Summary.from_json(_clean(summary)), sel)


def lost_worker_warnings(run_info: Mapping[str, Any]) -> list[str]:
    """One line per load generator the run lost (``run.json`` ``lost_workers``, written by the master)."""
    lines = []
    for lost in run_info.get("lost_workers") or []:
        when = _clock(lost.get("lost_at_s"))
        last = _clock(lost.get("last_batch_at_s"))
        lines.append(
            f"worker {lost.get('worker')} was lost at {when} (no heartbeat, no end of its records): "
            f"what it recorded after its last batch at {last} is missing ({lost.get('records', 0)} of its "
            "records arrived)"
        )
    return lines


def _clock(epoch_s: Any) -> str:
    if not isinstance(epoch_s, (int, float)):
        return "an unknown time"
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%H:%M:%S UTC")


def _run_block(
    frame: RecordFrame, scenario: Mapping[str, Any], run_info: Mapping[str, Any], run_end_s: float
) -> dict[str, Any]:
    df = frame.df
    names = sorted({str(s) for s in df["scenario"].dropna().unique()})
    return {
        "run_id": run_info.get("run_id"),
        "scenario": scenario.get("name") or (names[0] if len(names) == 1 else None),
        "target": run_info.get("target_url") or run_info.get("target"),
        "started_at": datetime.fromtimestamp(frame.t0_s, tz=timezone.utc).isoformat() if len(df) else None,
        "t0_s": frame.t0_s if len(df) else None,
        "duration_s": run_end_s,
        "records": len(df),
        "skipped_lines": frame.skipped_lines,
        "source": frame.source,
        "workers": sorted({str(w) for w in df["worker"].dropna().unique()}),
        "lost_workers": list(run_info.get("lost_workers") or []),
        "open_loop": bool(df["client_lag_ms"].notna().any()),
    }


def _section(
    frame: RecordFrame,
    counted: np.ndarray,
    in_window: np.ndarray,
    win: Window,
    slo: Mapping[str, Any],
) -> dict[str, Any]:
    """The figures of one column of the report.

    Request counts, failures, error rate and errors are over ``counted`` (every request the run sent and
    did not cancel itself); latencies and token counts over the successful requests of ``in_window``;
    throughput over ``win``'s exact length (a request crossing an edge counts for its part inside).
    """
    df = frame.df
    ok_rows = df["ok"].to_numpy()
    requests = int(counted.sum())
    resent = counted & (df["attempts"].to_numpy() > 1)
    succeeded = int((counted & ok_rows).sum())
    ok = in_window & ok_rows
    edges = None if win.source == "whole_run" else (win.start_s, win.end_s)
    return {
        "duration_s": win.duration_s,
        "requests": requests,
        "succeeded": succeeded,
        "failed": requests - succeeded,
        "error_rate": (requests - succeeded) / requests if requests else None,
        # Sent again after a kept-alive connection was found closed before any answer byte (docs/load.md);
        # throttled: answered HTTP 429 (an http_error, counted in "failed" too; docs/faults.md).
        "resent": int(resent.sum()),
        "resent_failed": int((resent & ~ok_rows).sum()),
        "throttled": int((counted & (df["status"].to_numpy() == 429)).sum()),
        "window_requests": int(in_window.sum()),
        "window_failed": int((in_window & ~ok_rows).sum()),
        "throughput": metrics.throughput(frame, counted, win.duration_s, window=edges),
        "latency_ms": metrics.latency_table(frame, in_window),
        "output_tokens": dict(describe(df["output_tokens"].to_numpy()[ok])),
        "prompt_tokens": dict(describe(df["prompt_tokens"].to_numpy()[ok])),
        "errors": metrics.error_summary(frame, counted),
        "goodput": metrics.goodput(frame, in_window, slo, win.duration_s, rate_mask=counted, window=edges),
    }


def _notes(frame: RecordFrame, sel: Selection) -> list[str]:
    """What a reader should know to read the figures right, in plain words."""
    win = sel.window
    df = frame.df
    n = len(df)
    notes = list(frame.notes)
    if n == 0:
        return [*notes, "no records: the run sent no request, so there is nothing to measure"]
    ok = df["ok"].to_numpy()
    if not ok.any():
        kinds = df["error_kind"].value_counts()
        kinds = kinds[kinds > 0]
        top = ", ".join(f"{k} ({v})" for k, v in kinds.head(3).items())
        notes.append(f"no request succeeded: all {n} failed ({top}); there are no latency figures")
    elif n == 1:
        notes.append("only one request: every percentile is that request's own value")
    if ok.any() and not (ok & df["stream"].to_numpy()).any():
        notes.append("no successful streamed request: TTFT, ITL and TPOT are not measured")
    sources = df.loc[ok, "token_source"].value_counts()
    if "chunks" in sources.index:
        notes.append(
            f"{sources['chunks']} answer(s) counted output tokens from chunks (no usage, no tokenizer): "
            "an estimate, since a chunk can carry several tokens"
        )
    cancelled = int((df["error_kind"] == "cancelled").sum())
    if cancelled:
        notes.append(
            f"{cancelled} request(s) were still in flight when the run ended (cancelled): "
            "kept in the records, left out of every figure"
        )
    if sel.client_cancelled:
        notes.append(
            f"{sel.client_cancelled} request(s) were cancelled on purpose by the scenario (load.cancel, "
            "client_cancelled): counted apart, neither failures nor latency samples"
        )
    if win.note:
        notes.append(f"window: {win.note}")
    left = sel.left_out()
    if win.source != "whole_run" and left["requests"]:
        notes.append(
            f"the window left out {left['requests']} request(s) ({left['failed']} failed) that ended outside "
            f"it: not in the latency figures, still in the request and error counts"
        )
    return notes


def _clean(value: Any) -> Any:
    """Replace NaN/inf by None and numpy scalars by Python ones, recursively (JSON-safe)."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value
