"""The gate at the end of ``chatbench run``: verdict, ``junit.xml``, ``slo.md``/``slo.json``, job summary, exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from bench.analysis.frames import load_json
from bench.gates import data
from bench.gates.exit_codes import EXIT_PASS, EXIT_SLO_BREACH
from bench.gates.junit import write_junit
from bench.gates.overrides import SloOverrides
from bench.gates.slo import SloVerdict, evaluate_slos, format_verdict
from bench.gates.summary import verdict_markdown
from bench.scenario.slo import Slo

__all__ = ["gate_run"]


def gate_run(
    run_dir: str | Path,
    slo: Slo | None,
    overrides: SloOverrides | None = None,
    *,
    junit_path: str | Path | None = None,
    window: data.WindowSpec = "steady",
    verdict: SloVerdict | None = None,
) -> int:
    """Judge a finished run from its records and report the verdict everywhere CI looks.

    Writes ``junit.xml`` (or ``junit_path``), ``slo.md`` and ``slo.json`` into ``run_dir``, appends ``slo.md`` to the
    file named by ``$GITHUB_STEP_SUMMARY`` when that variable is set, prints the verdict block, and returns
    ``EXIT_PASS`` (0) or ``EXIT_SLO_BREACH`` (3). ``window`` is the report's: the steady-state window by
    default (pass the ``--window`` of ``chatbench run``/``report`` when one was given). ``verdict``: the
    verdict already judged from these records (the report shows it), instead of judging again. A missing or
    empty results directory raises ``ResultsError`` (exit 2 through the CLI).
    """
    run = Path(run_dir)
    if verdict is None:
        verdict = evaluate_slos(run, slo, overrides, window=window)
    suite = str(data.load_scenario_json(run).get("name") or run.name)
    info = load_json(run / "run.json")
    started, ended = info.get("started_at_s"), info.get("ended_at_s")
    duration_s = (
        float(ended - started)
        if isinstance(started, (int, float)) and isinstance(ended, (int, float))
        else 0.0
    )
    write_junit(verdict, junit_path or run / "junit.xml", suite, duration_s=max(duration_s, 0.0))
    markdown = verdict_markdown(verdict, f"{suite} ({run.name})")
    (run / "slo.md").write_text(markdown, encoding="utf-8")
    (run / "slo.json").write_bytes(orjson.dumps(verdict.to_dict(), option=orjson.OPT_INDENT_2))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    print(format_verdict(verdict), file=sys.stdout, flush=True)
    return EXIT_PASS if verdict.passed else EXIT_SLO_BREACH
