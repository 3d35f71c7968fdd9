"""`chatbench capacity DIR` on a synthetic sweep: knee, highest load within SLOs, replicas, report files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from bench.cli import main
from tests.gates.synth import write_capacity_dir


def test_reanalysis_finds_knee_limit_and_replicas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 4 slots, 200 ms per answer: 20 req/s at 4 users and above; TTFT = 20 ms + queueing wait.
    # At 6 users the wait is 100 ms (TTFT 120 ms), so a TTFT p95 limit of 70 ms is crossed halfway: 5 users.
    cap = write_capacity_dir(
        tmp_path / "cap",
        [1, 2, 4, 6, 8],
        slots=4,
        slo={"ttft_ms": {"p95": 70}},
        planning={"target_users": 100, "headroom": 0.2},
        step_s=25.0,  # 1 user: 125 answers, enough to judge a p95 (stats.min_samples: 100)
    )
    assert main(["capacity", str(cap)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"saturation knee:\s+4 users", out)
    result = json.loads((cap / "capacity.json").read_text())
    assert result["knee"]["level"] == 4
    limit = result["max_load_within_slo"]
    assert limit["binding"] == "ttft_ms.p95" and limit["level"] == pytest.approx(5.0, abs=0.05)
    # The headline capacity is the last step that met every SLO at or below the knee: 4 users, not the
    # 5 users interpolated across the queueing cliff; replicas are given for both.
    assert result["capacity"]["level"] == 4 and result["capacity"]["basis"] == "slo"
    plan = result["plan"]
    assert plan["replicas"] == math.ceil(100 / (4 * 0.8)) == 32
    assert result["interpolated_plan"]["replicas"] == math.ceil(100 / (limit["level"] * 0.8)) == 25
    assert plan["expected_latency_ms"]["ttft_ms"]["p50"] == pytest.approx(
        20.0, abs=1
    )  # 4 users each: no queue
    assert result["peak_throughput"]["throughput_rps"] == pytest.approx(20.0, rel=0.05)
    assert [s["status"] for s in result["steps"]] == ["met", "met", "met", "breached", "breached"]
    assert any("past the saturation knee" in n for n in result["notes"])  # 5 users > knee at 4
    md = (cap / "capacity.md").read_text()
    assert md.index("## Capacity") < md.index("## Setup") < md.index("## Plots") < md.index("## Tables")
    assert "**capacity per server (headline)**: 4 users" in md
    assert "**replicas (headline)**: 32" in md and "**replicas (interpolated)**: 25" in md
    assert "| 3 | 6 |" in md and "### Replicas" in md
    page = (cap / "capacity.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and '<table class="data">' in page
    assert "<title>chatbench capacity: synthetic</title>" in page
    assert {p.name for p in cap.glob("*.png")} == {
        "capacity_latency.png",
        "capacity_throughput.png",
        "capacity_errors.png",
        "capacity_latency_throughput.png",
        "capacity_pareto.png",
    }


def test_reanalysis_with_other_slos_and_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cap = write_capacity_dir(tmp_path / "cap", [1, 2, 4, 6, 8], slots=4, slo={"ttft_ms": {"p95": 70}})
    assert main(["capacity", str(cap), "--no-slo", "--target-rps", "100", "--headroom", "0.5"]) == 0
    result = json.loads((cap / "capacity.json").read_text())
    assert result["max_load_within_slo"] is None
    plan = result["plan"]
    # No SLO: each server counts up to its knee (4 users = 20 req/s), half of it usable: 10 req/s.
    assert plan["capacity_source"] == "knee" and plan["capacity_per_server"] == pytest.approx(20.0, rel=0.05)
    assert plan["replicas"] == 10
    assert "no SLO set" in capsys.readouterr().out


def test_capacity_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", str(tmp_path)]) == 2  # a directory without sweep.json
    assert "not a capacity directory" in capsys.readouterr().err
    cap = write_capacity_dir(tmp_path / "cap", [1, 2], slots=4, slo={})
    assert main(["capacity", str(cap), "--target-users", "5", "--target-rps", "3"]) == 2
    assert main(["capacity", str(cap), "--levels", "1,2"]) == 2
    # Planning input is checked before any load is sent.
    assert main(["capacity", str(cap), "--headroom", "1.5", "--target-users", "5"]) == 2
    assert "--headroom 1.5" in capsys.readouterr().err
    scenario = tmp_path / "open.yaml"
    scenario.write_text(
        "name: open\ntarget: {base_url: 'http://127.0.0.1:9'}\nload: {arrival: {rate_rps: 2}, duration_s: 5}\n"
        "sweep: {mode: concurrency, levels: [1, 2]}\n"
    )
    assert main(["capacity", str(scenario)]) == 2
    assert "open loop" in capsys.readouterr().err
    assert main(["capacity", str(scenario), "--mode", "rate", "--target-users", "10"]) == 2
    assert "needs a concurrency sweep" in capsys.readouterr().err
