"""`chatbench calibrate --quick`: runs by itself, bounded, and writes consistent figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_calibrate_quick_writes_consistent_json(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "calibrate",
            "--quick",
            "--json",
            str(out),
            "--target-streams",
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "One load-generator process on this machine" in proc.stdout
    result = json.loads(out.read_text())
    assert result["error_limit_ms"] == 1.0
    assert result["elapsed_s"] < 60
    steps = result["steps"]
    assert steps and steps[0]["mode"] == "stream" and steps[0]["users"] == 64
    for step in steps:
        # Every step measured something real: requests, a window, the load generator's CPU.
        assert step["requests"] > 0 and step["requests_per_s"] > 0 and step["window_s"] > 2
        assert step["lg_cpu_pct"] is not None and step["lg_cpu_pct"] > 0
        assert step["passed"] == (
            step["failed"] == 0 and step["truth"]["worst_p99_ms"] <= result["error_limit_ms"]
        )
        if step["mode"] == "stream":
            # 32 one-token chunks per answer: chunks/s and requests/s must agree (within the edges).
            assert step["chunks_per_s"] == pytest.approx(32 * step["requests_per_s"], rel=0.25)
            # Poisson arrivals at N / 0.72 s (100 ms + 31 x 20 ms per answer): about N in flight.
            assert step["requests_per_s"] == pytest.approx(step["users"] / 0.72, rel=0.3)
            assert step["in_flight"] == pytest.approx(step["users"], rel=0.3)
    stream = result["stream"]
    passing = [s for s in steps if s["mode"] == "stream" and s["passed"]]
    if passing:  # the verdict is the highest passing step, with its own figures
        best = max(passing, key=lambda s: s["users"])
        assert stream["max_streams"] == best["users"] > 0
        assert stream["chunks_per_s"] == best["chunks_per_s"] > 0
        assert "streams need --processes" in proc.stdout
    else:
        assert stream["max_streams"] == 0
        assert "not even the lowest level" in proc.stdout
    nonstream = result["nonstream"]
    assert any(s["mode"] == "nonstream" for s in steps)  # the budget left room for the second search
    if nonstream["max_concurrency"]:
        assert nonstream["requests_per_s"] > 0
