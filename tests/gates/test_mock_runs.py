"""Real load against the real mock: a breached SLO exits 3, through the gate and the command line. Short runs
(a few seconds each), marked slow. The sweep against the mock is tests/servermetrics/test_sweep.py, compare
against a slower mock tests/compare/test_false_alarm.py."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.cli import main
from bench.gates.gate import gate_run
from bench.gates.overrides import overrides_from_specs

QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"

pytestmark = pytest.mark.slow

SCENARIO = """
name: {name}
seed: 1
target: {{base_url: null, model: o, profile: seed}}
mock: {{batch_slots: 4, tpot_ms: {tpot}, prefill_base_ms: 20, batch_slowdown: 0, output_dist: fixed, output_tokens: 16}}
prompt_sets:
  - name: p
    inline: ["hello there", "你好"]
sampling: {{temperature: 0.7, stream: true}}
load: {{users: 2, spawn_rate: 2, duration_s: 4}}
slo:
  ttft_ms: {{p50: 150}}  # 4 s steps hold 20-90 answers: a p50 is judged from them, a p95 (100) is not
  error_rate: 0.01
"""


def _scenario(tmp_path: Path, name: str = "knee", tpot: float = 10.0) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SCENARIO.format(name=name, tpot=tpot), encoding="utf-8")
    return path


def test_tight_slo_on_a_real_run_exits_3_with_a_failing_junit_case(tmp_path: Path) -> None:
    from bench.load.runner import run_load

    outcome = run_load(
        _scenario(tmp_path), {"duration_s": 3}, results_dir=tmp_path / "results", progress=False
    )
    assert outcome.records > 0
    assert gate_run(outcome.run_dir, outcome.scenario.slo) == 0  # the mock meets the scenario's SLOs
    code = gate_run(outcome.run_dir, outcome.scenario.slo, overrides_from_specs(["ttft_ms.p50=1"]))
    assert code == 3
    suite = ET.parse(outcome.run_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failing = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == ["ttft_ms.p50 <= 1 ms"]


def test_chatbench_run_with_a_tight_slo_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end through the CLI, once ``chatbench run`` calls ``gate_run`` (it takes --slo then)."""
    from bench.cli import build_parser

    parser, _ = build_parser("run")
    if "--slo" not in parser._subparsers._group_actions[0].choices["run"].format_help():  # type: ignore[union-attr]
        pytest.skip("chatbench run does not take --slo yet (the lead wires gate_run into run)")
    args = ["run", str(_scenario(tmp_path)), "--duration", "3", "--results-dir", str(tmp_path / "r")]
    assert main([*args, "--run-id", "tight", "--slo", "ttft_ms.p50=1"]) == 3
    assert "BREACH  ttft_ms.p50" in capsys.readouterr().out
    suite = ET.parse(tmp_path / "r" / "tight" / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert main([*args, "--run-id", "loose", "--slo", "ttft_ms.p50=5000"]) == 0


@pytest.mark.slow
def test_slo_given_on_the_command_line_is_the_one_the_report_and_gate_use(tmp_path: Path) -> None:
    """--slo replaces the scenario's threshold in the run's resolved scenario: goodput and gate agree."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            str(QUICKSTART),
            "-t",
            "3",
            "--results-dir",
            str(tmp_path),
            "--no-slo",
            "--slo",
            "e2e_ms.max=1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_dir,) = list(tmp_path.iterdir())
    # What was judged is in slo.json; scenario.json stays the scenario as resolved (never rewritten).
    assert json.loads((run_dir / "slo.json").read_text())["slo"] == {"e2e_ms": {"max": 1.0}}
    assert json.loads((run_dir / "scenario.json").read_text())["slo"] != {"e2e_ms": {"max": 1.0}}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["whole_run"]["goodput"]["limits_ms"] == {"e2e_ms": 1.0}
    assert summary["whole_run"]["goodput"]["good"] == 0  # no answer takes under 1 ms
