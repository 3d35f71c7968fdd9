"""The tests started from one dashboard session, each reported on its own in ``RUN_DIR/test-N/``.

A dashboard session is one run directory; each test started from it (the Start button, or a new test
after a stop) is written down in ``RUN_DIR/tests.json`` with its wall-clock start and stop:

    [{"test": 1, "started_at_s": 1764579000.1, "stopped_at_s": 1764579021.7}, ...]

(``"interrupted": true`` when the test was still running as the dashboard was stopped; ``"schedule"``:
the offered load's schedule the shape recorded for that test, from which its report's window comes.)

A record belongs to test N when it was sent between test N's start and test N+1's start (tests never
overlap: a new one starts only after the previous one stopped, whose requests were then ended or
cancelled). ``write_test_dir`` copies test N's records and load-generator samples into
``RUN_DIR/test-N/`` (its own ``records/``, ``monitor/``, ``scenario.json`` and ``run.json``), so test N
is an ordinary run directory with its own timeline and steady-state window: ``build_test_report``
merges it to ``records.parquet`` and writes ``report.html``, ``summary.json`` and the SLO verdict files
there, exactly as ``chatbench report`` would.

``python -m bench.live.testruns RUN_DIR N`` builds test N's report in a process of its own: the dashboard
starts it when a test stops, so pandas and matplotlib never run inside the load generator.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "REPORT_FILES",
    "TESTS_FILE",
    "build_test_report",
    "read_tests",
    "test_dir",
    "write_test_dir",
    "write_tests",
]

TESTS_FILE = "tests.json"
REPORT_FILES = ("report.html", "summary.json", "records.parquet", "slo.json")
"""What a finished test's directory offers for download from the dashboard."""


def test_dir(run_dir: str | Path, test: int) -> Path:
    return Path(run_dir) / f"test-{test}"


def read_tests(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / TESTS_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [t for t in data if isinstance(t, dict) and isinstance(t.get("test"), int)]


def write_tests(run_dir: str | Path, tests: list[dict[str, Any]]) -> None:
    path = Path(run_dir) / TESTS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(tests, indent=2), "utf-8")
    tmp.replace(path)


def _span(tests: list[dict[str, Any]], test: int) -> tuple[float, float]:
    """[start of test N, start of test N+1) in wall-clock seconds."""
    ordered = sorted(tests, key=lambda t: t["test"])
    for i, t in enumerate(ordered):
        if t["test"] == test:
            end = ordered[i + 1]["started_at_s"] if i + 1 < len(ordered) else float("inf")
            return float(t["started_at_s"]), float(end)
    raise KeyError(test)


def _copy_lines(sources: list[Path], target: Path, key: str, lo: float, hi: float) -> int:
    """Copy the JSONL lines whose ``key`` is in [lo, hi) from ``sources`` into ``target``; returns how many."""
    target.parent.mkdir(parents=True, exist_ok=True)
    kept = 0
    with target.open("wb") as out:
        for path in sources:
            for line in path.read_bytes().splitlines():
                try:
                    value = orjson.loads(line).get(key)
                except (orjson.JSONDecodeError, AttributeError):
                    continue  # a line cut short by a killed writer; merge_records counts those
                if isinstance(value, (int, float)) and lo <= value < hi:
                    out.write(line + b"\n")
                    kept += 1
    return kept


def write_test_dir(run_dir: str | Path, test: int) -> tuple[Path, int]:
    """Lay out test ``test`` of the session in ``RUN_DIR/test-N/``; returns the directory and its records."""
    run_dir = Path(run_dir)
    tests = read_tests(run_dir)
    lo, hi = _span(tests, test)
    out = test_dir(run_dir, test)
    out.mkdir(exist_ok=True)
    records = _copy_lines(
        sorted((run_dir / "records").glob("*.jsonl")), out / "records" / "all.jsonl", "started_at_s", lo, hi
    )
    _copy_lines(sorted((run_dir / "monitor").glob("*.jsonl")), out / "monitor" / "all.jsonl", "t_s", lo, hi)
    scenario = run_dir / "scenario.json"
    if scenario.is_file():
        (out / "scenario.json").write_bytes(scenario.read_bytes())
    run_info: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        run_info = json.loads((run_dir / "run.json").read_text("utf-8"))
    entry = next(t for t in tests if t["test"] == test)
    # The window comes from the test's own offered-load schedule (bench.analysis.window), never from
    # the session's, which the shape starts afresh at every test.
    run_info.pop("schedule", None)
    if isinstance(entry.get("schedule"), dict):
        run_info["schedule"] = entry["schedule"]
    run_info.update(
        run_id=f"{run_info.get('run_id') or run_dir.name}/test-{test}",
        session=str(run_dir),
        test=test,
        started_at_s=entry["started_at_s"],
        ended_at_s=entry.get("stopped_at_s"),
        records=records,
    )
    (out / "run.json").write_text(json.dumps(run_info, indent=2, ensure_ascii=False), "utf-8")
    return out, records


def build_test_report(run_dir: str | Path, test: int, *, quiet: bool = True) -> tuple[Path, int | None]:
    """Write test ``test``'s directory, report and SLO verdict; returns (directory, gate exit code).

    Unless ``quiet``, prints the report's headline table and the verdict block, as ``chatbench run``
    does. The code is None when the test recorded no request (nothing to report or judge).
    """
    import io

    from bench.gates.gate import gate_run
    from bench.gates.slo import evaluate_slos
    from bench.load.merge import merge_records
    from bench.report import build_report, headline_table

    out, records = write_test_dir(run_dir, test)
    if records == 0:
        return out, None
    merge_records(out)
    # As `chatbench run` does: the gate's verdict of the steady window, shown first in the report.
    slo = _scenario_slo(out)
    verdict = evaluate_slos(out, slo, window="steady")
    result = build_report(out, verdict=verdict, slo=slo)
    sink = io.StringIO() if quiet else sys.stdout
    with contextlib.redirect_stdout(sink):
        print(headline_table(result.summary, html_path=result.html_path), flush=True)
        code = gate_run(out, slo, None, verdict=verdict)
    return out, code


def _scenario_slo(out: Path) -> Any:
    """The SLOs in the test's resolved ``scenario.json`` (the ones the dashboard showed)."""
    from bench.gates.data import load_scenario_json
    from bench.gates.overrides import slo_from_dict

    return slo_from_dict(load_scenario_json(out).get("slo"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        sys.stderr.write("usage: python -m bench.live.testruns RUN_DIR TEST\n")
        return 2
    _, code = build_test_report(args[0], int(args[1]))
    return 0 if code is None else code


if __name__ == "__main__":
    raise SystemExit(main())
