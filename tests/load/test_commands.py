"""The three ways to run: `chatbench run`, `chatbench ui` and plain `locust -f bench/load/locustfile.py`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from bench.errors import TargetError
from bench.load.runner import LOCUSTFILE, probe_target

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_chatbench_run_quickstart_leaves_a_results_directory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", str(QUICKSTART), "-t", "3", "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = list(tmp_path.iterdir())
    assert run_dir.name.startswith("quickstart-")
    assert (run_dir / "records.parquet").is_file()
    assert str(run_dir) in proc.stdout
    # The main job ends with the report and the SLO verdict of the quickstart's own SLOs.
    for name in ("report.html", "summary.json", "summary.md", "junit.xml", "slo.md"):
        assert (run_dir / name).is_file(), name
    assert f"{run_dir / 'report.html'}" in proc.stdout
    assert "PASS" in proc.stdout
    assert "chatbench: building report..." in proc.stdout
    assert "step 0" not in proc.stdout  # a run without steps shows none


def test_plain_locust_with_the_scenario_flag_works(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--scenario",
            str(QUICKSTART),
            "-u",
            "3",
            "-r",
            "10",
            "-t",
            "2s",
            "--results-dir",
            str(tmp_path),
            "--only-summary",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = list(tmp_path.iterdir())
    assert (run_dir / "records.parquet").is_file() and (run_dir / "run.json").is_file()
    users = pq.read_table(run_dir / "records.parquet", columns=["user"]).column("user").to_pylist()
    assert set(users) == {0, 1, 2}  # Locust's own -u 3 became the scenario's user count
    assert f"make the report with: chatbench report {run_dir}" in proc.stdout  # the next step, said


@pytest.mark.slow
def test_chatbench_ui_serves_the_dashboard(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "ui",
            str(QUICKSTART),
            "--web-port",
            str(port),
            "--results-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code
            except httpx.HTTPError:
                time.sleep(0.5)
        assert status == 200
        # the scenario's shape drives the test: a user count in the form is refused, not ignored
        refused = httpx.post(
            f"http://127.0.0.1:{port}/swarm", data={"user_count": 1, "spawn_rate": 1}, timeout=5
        )
        assert not refused.json()["success"]
        started = httpx.post(f"http://127.0.0.1:{port}/swarm", timeout=5)
        assert started.json()["success"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(tmp_path.glob("*/records/local.jsonl")):
            time.sleep(0.5)
        time.sleep(2)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    # the test was still running at Ctrl-C: reported, and the exit code says it was interrupted
    assert proc.returncode == 130, (out.decode()[-4000:], err.decode()[-2000:])
    assert b"chatbench: test 1 of 1" in out
    (run_dir,) = list(tmp_path.iterdir())
    assert (run_dir / "run.json").is_file()
    assert pq.read_table(run_dir / "records.parquet").num_rows > 0


def test_an_unreachable_target_is_a_one_line_error() -> None:
    with pytest.raises(TargetError, match=r"cannot reach http://127.0.0.1:1: connection refused"):
        probe_target("http://127.0.0.1:1")


def test_a_broken_scenario_is_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("load: {users: -3}\n", "utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", str(bad), "--results-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("chatbench: error: ") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_chatbench_run_against_nothing_says_so_and_leaves_no_directory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            str(QUICKSTART),
            "--host",
            "http://127.0.0.1:1",
            "--results-dir",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot reach http://127.0.0.1:1: connection refused" in proc.stderr
    assert not list((tmp_path / "r").glob("*"))
