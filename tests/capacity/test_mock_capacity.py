"""A real sweep against the mock with 6 batch slots, where a TTFT SLO breaks past the knee: the headline
capacity is a measured step at or below the knee, the interpolated figure beside it, replicas for both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main

pytestmark = pytest.mark.slow

SCENARIO = """
name: six-slots
seed: 3
target: {base_url: null, model: o, profile: seed}
mock: {batch_slots: 6, tpot_ms: 10, prefill_base_ms: 20, batch_slowdown: 0, output_dist: fixed, output_tokens: 16}
prompt_sets:
  - name: p
    inline: ["hello there", "你好"]
sampling: {temperature: 0.7, stream: true}
load: {users: 2, spawn_rate: 2, duration_s: 4}
slo:
  ttft_ms: {p95: 100}
sweep: {mode: concurrency, levels: [2, 4, 6, 8, 10], step_duration_s: 4, warmup_s: 1}
planning: {target_users: 120, headroom: 0.2}
"""


def test_ttft_slo_breaking_past_the_knee_gives_a_conservative_capacity_and_both_replica_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "six.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "cap"
    assert main(["capacity", str(scenario), "--out", str(out)]) == 0
    result = json.loads((out / "capacity.json").read_text())
    knee = result["knee"]["level"]
    steps = {s["level"]: s for s in result["steps"]}
    # 6 slots: throughput stops rising after 6 users; 8 users queue, so TTFT p95 jumps past 100 ms there.
    assert knee is not None and 4 <= knee <= 8, [(s["level"], s["throughput_rps"]) for s in result["steps"]]
    assert steps[6.0]["status"] == "met", steps[6.0]["checks"]
    limit = result["max_load_within_slo"]
    capacity = result["capacity"]
    assert limit["exact"] and limit["binding"] == "ttft_ms.p95"
    assert capacity["basis"] == "slo" and capacity["level"] <= knee  # never past the knee
    assert steps[capacity["level"]]["status"] == "met"  # a measured step that met the SLO
    assert limit["level"] > capacity["level"]  # the interpolated figure is the optimistic one
    plan, interpolated = result["plan"], result["interpolated_plan"]
    assert plan["capacity_per_server"] == capacity["level"] and plan["replicas"] == -(
        -120 // (capacity["level"] * 0.8)
    )
    assert interpolated["capacity_source"] == "interpolated" and interpolated["replicas"] <= plan["replicas"]
    md = (out / "capacity.md").read_text()
    assert f"**replicas (headline)**: {plan['replicas']}" in md
    assert f"**replicas (interpolated)**: {interpolated['replicas']}" in md
    assert "assumes linear scaling" in md and "**assumption**:" in md
    page = (out / "capacity.html").read_text()
    assert "the embedded mock" in page  # the page names its target
    printed = capsys.readouterr().out
    assert "capacity per server (headline)" in printed and "replicas (interpolated)" in printed
