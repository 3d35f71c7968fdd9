"""SLO verdicts on synthetic records with known timings: exact numbers, overrides, exit codes, JUnit."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from bench.analysis.frames import frame_from_records
from bench.errors import ResultsError, UsageError
from bench.gates import EXIT_NOT_RUN, EXIT_PASS, EXIT_SLO_BREACH
from bench.gates.data import metric_values
from bench.gates.gate import gate_run
from bench.gates.overrides import (
    Threshold,
    add_slo_arguments,
    effective_slo,
    overrides_from_specs,
    slo_from_dict,
    slo_overrides_from_args,
)
from bench.gates.slo import evaluate_slos, format_verdict
from tests.gates.synth import record, write_run


def _run(tmp_path: Path, *, failed: int = 5, workers: tuple[str, ...] = ("local",)) -> Path:
    """100 requests: TTFT 1..100 ms, TPOT exactly 10 ms (11 tokens), the last ``failed`` failed."""
    recs = [record(i, ttft_ms=float(i + 1), tpot_ms=10.0, output_tokens=11) for i in range(100 - failed)]
    recs += [record(100 + i, error_kind="http_error") for i in range(failed)]
    # A request the run cut off when it ended does not count at all.
    recs.append(record(999, error_kind="cancelled"))
    return write_run(tmp_path / "run", recs, workers=workers)


def test_exact_percentiles_over_successful_requests_and_error_rate(tmp_path: Path) -> None:
    run = _run(tmp_path)
    slo = slo_from_dict(
        {"ttft_ms": {"p95": 100.0, "max": 95.0}, "tpot_ms": {"p99": 10.0}, "error_rate": 0.05}
    )
    verdict = evaluate_slos(run, slo, window="whole")
    by = {c.name: c for c in verdict.checks}
    # 95 successes with TTFT 1..95: p95 by linear interpolation = 1 + 0.95 * 94.
    assert by["ttft_ms.p95"].measured == pytest.approx(1 + 0.95 * 94)
    assert by["ttft_ms.max"].measured == 95.0 and by["ttft_ms.max"].passed  # equal to the limit passes
    assert by["tpot_ms.p99"].measured == pytest.approx(10.0)
    assert by["error_rate"].measured == pytest.approx(5 / 100)  # the cancelled one is not counted
    assert verdict.requests == 100 and verdict.failed == 5
    assert verdict.passed


def test_distributed_workers_are_merged(tmp_path: Path) -> None:
    single = evaluate_slos(_run(tmp_path / "a"), slo_from_dict({"ttft_ms": {"p50": 1000}}))
    split = evaluate_slos(
        _run(tmp_path / "b", workers=("w0", "w1", "w2")), slo_from_dict({"ttft_ms": {"p50": 1000}})
    )
    assert len(list((tmp_path / "b" / "run" / "records").glob("*.jsonl"))) == 3
    assert split.checks[0].measured == single.checks[0].measured == pytest.approx(48.0)


def test_breach_block_names_each_failed_slo_with_its_margin(tmp_path: Path) -> None:
    verdict = evaluate_slos(
        _run(tmp_path),
        slo_from_dict({"ttft_ms": {"p95": 50}, "itl_ms": {"p50": 20}, "error_rate": 0.01}),
        window="whole",
    )
    assert not verdict.passed
    assert [c.name for c in verdict.breaches] == ["ttft_ms.p95", "error_rate"]
    block = format_verdict(verdict)
    assert (
        block.splitlines()[0]
        == "SLO gate: FAIL - 2 of 3 SLOs breached; 1 of 3 from fewer values than a firm percentile needs (100 requests sent, 5 failed; latency over 100 requests in the whole run)"
    )
    assert "BREACH  ttft_ms.p95: measured 90.3 ms, limit 50.0 ms, over by 40.3 ms (+80.6 %)" in block
    assert (
        "BREACH  error_rate: measured 5.00 %, limit 1.00 %, over by 4.00 percentage points (+400.0 %)"
        in block
    )
    assert "ok      itl_ms.p50" in block


def test_unmeasurable_slo_fails(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [record(i, stream=False) for i in range(10)])
    verdict = evaluate_slos(run, slo_from_dict({"ttft_ms": {"p95": 500}}))
    assert not verdict.passed and verdict.checks[0].measured is None
    assert "no value measured" in format_verdict(verdict)


def test_command_line_overrides_replace_add_and_drop() -> None:
    parser = argparse.ArgumentParser()
    add_slo_arguments(parser)
    args = parser.parse_args(["--slo", "ttft_ms.p95=200", "--slo", "e2e_ms.p99.9=3000,error_rate=2%"])
    overrides = slo_overrides_from_args(args)
    scenario = slo_from_dict({"ttft_ms": {"p95": 500}, "tpot_ms": {"p99": 50}, "error_rate": 0.01})
    merged = effective_slo(scenario, overrides)
    assert merged.thresholds == (
        Threshold("ttft_ms", "p95", 200.0),
        Threshold("tpot_ms", "p99", 50.0),
        Threshold("e2e_ms", "p99.9", 3000.0),
    )
    assert merged.error_rate == pytest.approx(0.02)
    only_cli = effective_slo(scenario, overrides_from_specs(["e2e_ms.p99=3000"], no_slo=True))
    assert only_cli.thresholds == (Threshold("e2e_ms", "p99", 3000.0),) and only_cli.error_rate is None
    assert effective_slo(scenario, overrides_from_specs([], no_slo=True)).empty


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("ttft.p95=500", "unknown metric 'ttft'"),
        ("ttft_ms.p97=500", "unknown statistic 'p97'"),
        ("ttft_ms.p95", "expected METRIC.STAT=LIMIT"),
        ("ttft_ms.p95=fast", "'fast' is not a number"),
        ("error_rate=5", "fraction between 0 and 1"),
    ],
)
def test_bad_slo_flags_are_one_line_usage_errors(spec: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        overrides_from_specs([spec])


def test_gate_run_writes_junit_markdown_and_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path)
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code = gate_run(run, slo_from_dict({"ttft_ms": {"p95": 500}}), overrides_from_specs(["tpot_ms.p50=5"]))
    assert code == EXIT_SLO_BREACH == 3
    assert "BREACH  tpot_ms.p50" in capsys.readouterr().out

    root = ET.parse(run / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "chatbench.slo.synthetic"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    assert [child.tag for child in suite] == [
        "properties",
        "testcase",
        "testcase",
        "system-out",
        "system-err",
    ]
    assert all(suite.get(key) for key in ("timestamp", "hostname", "time"))
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["ttft_ms.p95 <= 500 ms", "tpot_ms.p50 <= 5 ms"]
    assert all(c.get("classname") == "chatbench.slo.synthetic" for c in cases)
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and "measured 10.0 ms/token, limit 5.0 ms/token" in (
        failure.get("message") or ""
    )

    md = (run / "slo.md").read_text()
    assert (
        "FAIL, 1 of 2 SLOs breached" in md
        and "| `tpot_ms.p50` | 10.0 ms/token | 5.0 ms/token | +100.0 % | **FAIL** |" in md
    )
    assert summary.read_text().startswith("earlier step\n") and md in summary.read_text()
    verdict = json.loads((run / "slo.json").read_text())
    assert verdict["passed"] is False and [c["name"] for c in verdict["checks"] if not c["passed"]] == [
        "tpot_ms.p50"
    ]


def test_gate_run_passes_and_names_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    run = _run(tmp_path)
    assert (
        gate_run(run, slo_from_dict({"ttft_ms": {"p95": 500}}), junit_path=tmp_path / "ci" / "out.xml")
        == EXIT_PASS
        == 0
    )
    assert ET.parse(tmp_path / "ci" / "out.xml").getroot().find("testsuite").get("failures") == "0"  # type: ignore[union-attr]
    assert EXIT_NOT_RUN == 2


def test_missing_or_empty_results_dir_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such results directory"):
        gate_run(tmp_path / "nope", None)
    (tmp_path / "empty" / "records").mkdir(parents=True)
    with pytest.raises(ResultsError, match="no records"):
        gate_run(tmp_path / "empty", None)
    (tmp_path / "empty" / "records" / "local.jsonl").write_text("")
    with pytest.raises(ResultsError, match="no records"):
        gate_run(tmp_path / "empty", None)


def test_pooled_itl_uses_every_gap() -> None:
    frame = frame_from_records(
        [record(0, tpot_ms=10.0, output_tokens=3), record(1, tpot_ms=30.0, output_tokens=5)]
    )
    assert sorted(metric_values(frame, "itl_ms").tolist()) == [10.0, 10.0, 30.0, 30.0, 30.0, 30.0]
    assert np.allclose(sorted(metric_values(frame, "tpot_ms")), [10.0, 30.0])


def test_default_window_is_the_reports_steady_state_window(tmp_path: Path) -> None:
    from bench.analysis.summary import analyze

    # A ramp: 1 request in flight for 5 s, then 8 for 10 s, then 1 again; latency grows with the load.
    recs = []
    t, i = 0.0, 0
    for users, span_s, ttft in ((1, 5.0, 20.0), (8, 10.0, 200.0), (1, 5.0, 20.0)):
        end = t + span_s
        while t < end:
            recs += [record(i + u, ttft_ms=ttft, started_at_s=t) for u in range(users)]
            i += users
            t += (ttft + 100) / 1000
    run = write_run(tmp_path / "ramp", recs)
    # The schedule says the first and last 5 s are warm-up and cool-down: the window is the 8-user part.
    load = {"stages": [{"duration_s": 20, "users": 8, "spawn_rate": 8}], "warmup_s": 4, "cooldown_s": 5}
    (run / "scenario.json").write_text(json.dumps({"name": "ramp", "slo": {}, "load": load}))
    summary = analyze(run).summary.to_json()
    assert (summary["window"]["start_s"], summary["window"]["end_s"]) == (5.0, 15.0)
    steady = summary["steady"]["latency_ms"]["ttft_ms"]
    assert steady["p50"] == 200.0
    verdict = evaluate_slos(run, slo_from_dict({"ttft_ms": {"p50": 1000, "p95": 1000}}))
    assert "steady-state window" in verdict.window
    assert [c.measured for c in verdict.checks] == [
        pytest.approx(steady["p50"]),
        pytest.approx(steady["p95"]),
    ]
    whole = evaluate_slos(run, slo_from_dict({"ttft_ms": {"p50": 1000}}), window="whole")
    assert whole.requests == verdict.requests  # the error rate counts every request either way
    assert whole.window_requests > verdict.window_requests


def _down_half_way(tmp_path: Path) -> Path:
    """100 requests 0.1 s apart: the first 50 answered, then the target refused every connection."""
    recs = [record(i, ttft_ms=20.0) for i in range(50)]
    recs += [record(i, error_kind="connect_error") for i in range(50, 100)]
    return write_run(tmp_path / "run", recs)


@pytest.mark.parametrize("slo", [{"ttft_ms": {"p95": 500.0}}, {}], ids=["latency SLOs only", "no SLO at all"])
def test_an_outage_fails_the_gate_whatever_slos_were_set(tmp_path: Path, slo: dict) -> None:
    # The answered half meets every latency SLO; the gate must still not say PASS.
    verdict = evaluate_slos(_down_half_way(tmp_path), slo_from_dict(slo), window="whole")
    assert not verdict.passed
    down = {c.name: c for c in verdict.checks}["outage_share"]
    assert not down.passed and down.samples == 50
    assert down.measured == pytest.approx(0.5, abs=0.02)  # about half the offered time
    assert verdict.outages and verdict.outages[0].startswith("target unreachable from 5.0 s to the end")
    text = format_verdict(verdict)
    assert "FAIL" in text and "PASS" not in text and "BREACH  outage_share" in text
    assert gate_run(tmp_path / "run", slo_from_dict(slo), window="whole") == EXIT_SLO_BREACH


def test_scattered_failures_are_no_outage(tmp_path: Path) -> None:
    recs = [record(i, error_kind="connect_error" if i % 10 == 0 else None) for i in range(100)]
    verdict = evaluate_slos(write_run(tmp_path / "run", recs), slo_from_dict({}), window="whole")
    assert verdict.passed and not verdict.outages
    assert "outage_share" not in {c.name for c in verdict.checks}
