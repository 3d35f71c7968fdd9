"""A capacity sweep against the mock: its throughput scales up to the mock's batch slots and no further, the
server's queue is empty up to them and grows past them, and the capacity report names it as the saturation
cause at the knee, with a replica plan that never counts more users per server than the sweep measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main

pytestmark = pytest.mark.slow

SCENARIO = """
name: queue
seed: 1
target: {base_url: null, model: o, profile: seed}
mock: {batch_slots: 2, tpot_ms: 10, prefill_base_ms: 20, batch_slowdown: 0, output_dist: fixed, output_tokens: 16}
prompt_sets:
  - name: p
    inline: ["hello there", "你好"]
sampling: {temperature: 0.7, stream: true}
sweep: {mode: concurrency, levels: [1, 2, 4, 6], step_duration_s: 3, warmup_s: 1}
planning: {target_users: 50, headroom: 0.2}
"""


def test_the_waiting_queue_is_zero_below_the_slots_and_grows_past_them(tmp_path: Path) -> None:
    scenario = tmp_path / "queue.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "cap"
    assert main(["capacity", str(scenario), "--out", str(out), "--no-slo"]) == 0
    result = json.loads((out / "capacity.json").read_text())
    throughput = {s["level"]: s["throughput_rps"] for s in result["steps"]}
    assert throughput[2.0] > 1.6 * throughput[1.0], throughput  # scales up to the 2 slots
    assert max(throughput.values()) < 1.3 * throughput[2.0], throughput  # and not past them
    assert result["plan"]["replicas"] >= 50 / 6  # never more than the 6 users measured per server
    assert (out / "step-0" / "records.parquet").is_file() and (out / "capacity.html").is_file()
    server = {s["level"]: s["server"] for s in result["steps"]}
    assert all(server[level] is not None and server[level]["scrapes"] >= 2 for level in server), server
    # Closed-loop users without think time: up to 2 users every request finds a free slot.
    assert server[1.0]["waiting"]["max"] == 0 and server[2.0]["waiting"]["max"] == 0
    assert server[1.0]["running"]["max"] <= 1 and server[2.0]["running"]["max"] <= 2
    # Past the slots the queue holds the users the slots cannot take: about 2, then about 4.
    assert 1.0 <= server[4.0]["waiting"]["mean"] <= 2.0
    assert server[6.0]["waiting"]["mean"] > server[4.0]["waiting"]["mean"] + 1.0
    assert server[6.0]["running"]["max"] == 2
    # The knee is the last level that still added throughput: 2 users (4 on a machine busy enough to
    # blur the first steps' throughput, as the sweep test of bench.capacity allows).
    knee = result["knee"]["level"]
    assert knee in (2.0, 4.0), result["knee"]
    saturation = result["saturation"]
    assert saturation.startswith(f"the knee at {knee:g} users coincides with requests waiting > 0 (mean "), (
        saturation
    )
    assert saturation.endswith("one step past it, at 4 users") or knee == 4.0, saturation
    markdown = (out / "capacity.md").read_text("utf-8")
    assert (
        "Server signals per step" in markdown
        and f"Server at the knee: the knee at {knee:g} users" in markdown
    )
    assert "Server signals per step" in (out / "capacity.html").read_text("utf-8")
