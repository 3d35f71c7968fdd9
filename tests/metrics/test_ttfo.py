"""TTFO: the first *answer* token, reasoning left out, from the client's stamp to every product.

The client stamps it against a server with known timings; then one run with a known thinking time shows
it in the report, the SLO gate (``--slo ttfo_ms.p95=...`` and a scenario's ``slo`` block), compare and
capacity, with nothing but ``bench/metrics/ttfo.py`` naming it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bench.cli import main
from bench.gates import EXIT_PASS, EXIT_SLO_BREACH
from bench.gates.gate import gate_run
from bench.gates.overrides import overrides_from_specs
from bench.instrument.truth import read_records
from bench.load.client import ChatClient, ClientSettings
from bench.records import Record
from bench.report import build_report
from bench.scenario.loader import load_scenario
from tests.gates.synth import drawn, write_capacity_dir, write_run
from tests.load.test_client import BODY, ScriptedServer

THINK_MS = 200.0


def _event(**delta: str) -> bytes:
    return (
        f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta, 'finish_reason': None}]})}\n\n".encode()
    )


def test_the_client_stops_ttfo_at_the_first_answer_not_at_the_first_thought() -> None:
    # Reasoning arrives after 50 ms, the answer 200 ms later: TTFT ~50 ms, TTFO ~250 ms.
    server = ScriptedServer(
        [
            (0.05, _event(reasoning_content="let me think")),
            (THINK_MS / 1000, _event(content="Hello")),
            (0.0, _event(content=" there") + b"data: [DONE]\n\n"),
        ]
    )
    try:
        ex = ChatClient(ClientSettings(server.url)).send(BODY, stream=True)
    finally:
        server.close()
    assert ex.ok, ex.error_message
    assert ex.ttft_ms is not None and ex.ttfo_ms is not None
    assert ex.ttft_ms >= 50.0
    assert THINK_MS - 5.0 <= ex.ttfo_ms - ex.ttft_ms < THINK_MS + 150.0  # the thinking, on a busy machine
    assert ex.answer == "Hello there" and ex.reasoning == "let me think"


def test_without_reasoning_ttfo_is_ttft() -> None:
    server = ScriptedServer([(0.02, _event(content="a")), (0.0, _event(content="b") + b"data: [DONE]\n\n")])
    try:
        ex = ChatClient(ClientSettings(server.url)).send(BODY, stream=True)
    finally:
        server.close()
    assert ex.ok and ex.ttfo_ms == ex.ttft_ms


def _thinking(records: list[Record], think_ms: float) -> list[Record]:
    return [replace(r, ttfo_ms=r.ttft_ms + think_ms) if r.ttft_ms is not None else r for r in records]


def test_ttfo_in_the_report_and_the_gate(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", _thinking(drawn(400, seed=1, ttft_median_ms=80.0), THINK_MS))
    summary = build_report(run).summary.to_json()
    ttft, ttfo = summary["whole_run"]["latency_ms"]["ttft_ms"], summary["whole_run"]["latency_ms"]["ttfo_ms"]
    assert ttfo["count"] == ttft["count"] == 400
    assert ttfo["p50"] == pytest.approx(ttft["p50"] + THINK_MS)
    assert "| TTFO |" in (run / "summary.md").read_text()
    # The gate: TTFT meets 200 ms at p95, TTFO (about 80 + 200 ms) does not.
    assert gate_run(run, None, overrides_from_specs(["ttft_ms.p95=200"]), window="whole") == EXIT_PASS
    assert gate_run(run, None, overrides_from_specs(["ttfo_ms.p95=200"]), window="whole") == EXIT_SLO_BREACH
    verdict = json.loads((run / "slo.json").read_text())
    assert [c["name"] for c in verdict["checks"]] == ["ttfo_ms.p95"] and not verdict["passed"]
    assert gate_run(run, None, overrides_from_specs(["ttfo_ms.p95=400"]), window="whole") == EXIT_PASS


def test_a_scenario_may_bound_ttfo(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("slo:\n  ttfo_ms: {p95: 900}\n")
    slo = load_scenario(path).slo
    assert [(t.metric, t.stat, t.limit) for t in slo.thresholds] == [("ttfo_ms", "p95", 900.0)]


def test_compare_flags_a_longer_thinking_time(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", _thinking(drawn(600, seed=2), 100.0))
    cand = write_run(tmp_path / "cand", _thinking(drawn(600, seed=3), 300.0))  # same TTFT, thinks longer
    assert (
        main(["compare", str(base), str(cand), "--metric", "ttft_ms,ttfo_ms", "--out", str(tmp_path / "c")])
        == 3
    )
    result = json.loads((tmp_path / "c" / "compare.json").read_text())
    verdicts = {m["metric"]: m["verdict"] for m in result["metrics"]}
    assert verdicts["ttfo_ms.p50"] == "regression" and verdicts["ttft_ms.p50"] == "no change"


def test_capacity_plans_for_a_ttfo_slo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 4 slots, 200 ms per answer; TTFT = 20 ms + queueing, and every answer thinks 30 ms more: TTFO = 50 ms
    # + queueing. At 6 users the queue adds 100 ms (TTFO 150 ms): a 100 ms TTFO limit is crossed at 5 users.
    # 25 s steps: 1 user gives 125 answers, enough to judge a p95 (stats.min_samples: 100).
    cap = write_capacity_dir(tmp_path / "cap", [1, 2, 4, 6, 8], slots=4, slo={}, step_s=25.0)
    for step in sorted(cap.glob("step-*")):
        write_run(step, _thinking(read_records(step), 30.0))
    assert main(["capacity", str(cap), "--slo", "ttfo_ms.p95=100"]) == 0
    result = json.loads((cap / "capacity.json").read_text())
    limit = result["max_load_within_slo"]
    assert limit["binding"] == "ttfo_ms.p95" and limit["level"] == pytest.approx(5.0, abs=0.05)
    assert result["steps"][0]["latency_ms"]["ttfo_ms"]["p50"] == pytest.approx(50.0, abs=1.0)
    assert "ttfo_ms.p95" in capsys.readouterr().out
