"""The run directory: its name, ``scenario.json`` and ``run.json``. Standard library only (no gevent).

Run id: ``<scenario-name>-<YYYYmmdd-HHMMSS>`` (UTC), with ``-2``, ``-3``... added when that directory
already exists, so two runs never share a directory.
"""

from __future__ import annotations

import json
import platform
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.records import StopReason

__all__ = [
    "create_run_dir",
    "finish_run_json",
    "new_run_id",
    "note_schedule",
    "read_run_json",
    "update_run_json",
    "write_run_json",
    "write_scenario_json",
]


def new_run_id(scenario_name: str, now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc).strftime(
        "%Y%m%d-%H%M%S"
    )
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario_name).strip("-") or "run"
    return f"{safe}-{stamp}"


def create_run_dir(results_dir: str | Path, scenario_name: str, run_id: str | None = None) -> Path:
    """Create and return a fresh ``results_dir/<run-id>`` (a suffix makes it unique)."""
    base = Path(results_dir)
    base.mkdir(parents=True, exist_ok=True)
    stem = run_id or new_run_id(scenario_name)
    candidate, n = base / stem, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = base / f"{stem}-{n}"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def write_scenario_json(run_dir: Path, scenario: Any) -> None:
    (run_dir / "scenario.json").write_text(
        json.dumps(scenario.to_dict(), indent=2, ensure_ascii=False), "utf-8"
    )


def write_run_json(
    run_dir: Path,
    *,
    run_id: str,
    target_url: str | None,
    command: Sequence[str],
    options: Mapping[str, Any] | None = None,
) -> None:
    data = {
        "run_id": run_id,
        "versions": {
            "chatbench": _version("chatbench"),
            "locust": _version("locust"),
            "python": platform.python_version(),
        },
        "target_url": target_url,
        "started_at_s": time.time(),
        "ended_at_s": None,
        "command": list(command),
        "options": dict(options or {}),
    }
    _write(run_dir, data)


def finish_run_json(run_dir: Path, **fields: Any) -> None:
    """Add the end time and ``fields`` (exit code, counts) to ``run.json``."""
    update_run_json(run_dir, ended_at_s=time.time(), **fields)


def update_run_json(run_dir: Path, **fields: Any) -> None:
    """Add ``fields`` to ``run.json``."""
    data = read_run_json(run_dir)
    data.update(fields)
    _write(run_dir, data)


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of ``run_dir`` ({} when it is missing or unreadable)."""
    try:
        data = json.loads((run_dir / "run.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def note_schedule(
    run_dir: Path,
    *,
    stage: Mapping[str, Any] | None = None,
    stopped_at_s: float | None = None,
    stop_reason: StopReason | None = None,
    unreachable_since_s: float | None = None,
    rows_unsent: int | None = None,
    rows_unknown: list[str] | None = None,
    arrivals_dropped: int | None = None,
    reset: bool = False,
) -> None:
    """Write the offered load's schedule into ``run.json`` as it happens (``bench.analysis.window``).

    ``schedule.stages`` gets one entry per stage when it starts (``index``, ``started_at_s`` wall clock,
    users, spawn rate, rate); ``schedule.load_stopped_at_s`` and ``stop_reason`` (``schedule``,
    ``max_requests``, ``target_unreachable``: the circuit breaker, with ``unreachable_since_s``, the wall
    clock from which no request could connect, ``bench.load.breaker``; ``trace_overran``: a trace ran past
    its planned stage to send every row) when the load stops; ``rows_unsent`` when a trace could not
    be sent in full (from fresh reports; ``rows_unknown`` names the workers that did not report, whose
    unsent rows are not known), and ``arrivals_dropped``, the open-loop arrivals not sent because the
    in-flight limit was full. The analysis decides the steady-state window from this,
    never from what the server did. Only the process that drives the load shape writes it; ``reset``
    starts it afresh (the web UI can start a test again in the same run directory).
    """
    path = run_dir / "run.json"
    data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    if reset:
        data.pop("schedule", None)
    schedule = data.setdefault("schedule", {"stages": [], "load_stopped_at_s": None, "stop_reason": None})
    if stage is not None:
        schedule["stages"] = [s for s in schedule["stages"] if s.get("index") != stage.get("index")]
        schedule["stages"].append(dict(stage))
    if stopped_at_s is not None:
        schedule["load_stopped_at_s"] = stopped_at_s
        schedule["stop_reason"] = stop_reason or "schedule"
        if unreachable_since_s is not None:
            schedule["unreachable_since_s"] = unreachable_since_s
    if rows_unsent is not None:
        schedule["rows_unsent"] = rows_unsent
    if rows_unknown:
        schedule["rows_unknown"] = list(rows_unknown)
    if arrivals_dropped is not None:
        schedule["arrivals_dropped"] = arrivals_dropped
    _write(run_dir, data)


def _write(run_dir: Path, data: Mapping[str, Any]) -> None:
    tmp = run_dir / "run.json.tmp"
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), "utf-8")
    tmp.replace(run_dir / "run.json")
