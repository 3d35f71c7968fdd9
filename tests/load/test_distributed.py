"""A run across machines, on loopback: a master and two workers that share no filesystem with it.

Each worker runs in its own mount namespace (``unshare --mount``) with an empty tmpfs over the results
directory and over the scenario's folder, so it cannot read the scenario or its prompt file and cannot
write a record where the master would find it: everything it knows comes from the master over Locust's
messaging, and every record it makes goes back the same way. The target is a mock started by the test
(a multi-machine run needs --host), whose truth log says which requests the server really saw.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench.instrument.truth import read_records, read_truth_log
from bench.mock.process import start_mock
from bench.mock.settings import MockSettings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
FLUSH_S = 0.5  # a worker sends its records at least this often (bench.load.stream)


def _unshare_works() -> str | None:
    """Why private mounts cannot be made here (None: they can)."""
    if shutil.which("unshare") is None:
        return "no unshare command (util-linux)"
    if os.geteuid() != 0:
        return "unshare --mount needs root"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare --mount fails here: {probe.stderr.decode().strip()}"
    return None


@pytest.fixture(scope="module", autouse=True)
def _private_mounts() -> None:
    why = _unshare_works()
    if why is not None:
        pytest.skip(f"workers without the master's files need private mounts: {why}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _popen(out: Path, command: list[str]) -> subprocess.Popen[bytes]:
    with out.open("wb") as f:  # the child keeps its own copy of the file
        return subprocess.Popen(command, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


class Cluster:
    """One master (``chatbench run --master``) and its workers (``chatbench worker``), on loopback."""

    def __init__(
        self, tmp_path: Path, *, duration_s: float, users: int = 4, rate_rps: float | None = None
    ) -> None:
        self.tmp = tmp_path
        self.scenario_dir = tmp_path / "scenario"
        self.results = tmp_path / "results"
        self.run_dir = self.results / "r"
        self.port = _free_port()
        self.scenario_dir.mkdir()
        self.results.mkdir()
        lines = [{"prompt": f"Question {i}: what does a load test measure?"} for i in range(20)]
        (self.scenario_dir / "questions.jsonl").write_text("\n".join(json.dumps(x) for x in lines), "utf-8")
        settings = MockSettings(
            port=0, prefill_base_ms=200, prefill_per_token_ms=0, tpot_ms=20, batch_slowdown=0,
            batch_slots=256, output_dist="fixed", output_tokens=50, truth_log=str(tmp_path / "truth.jsonl"),
        )  # fmt: skip
        self.mock = start_mock(settings, log_path=tmp_path / "mock.log")
        data = {
            "name": "dist",
            "seed": 3,
            "target": {"base_url": None, "timeouts": {"connect_s": 5, "first_byte_s": 10, "total_s": 20}},
            "prompt_sets": [{"name": "q", "jsonl": "questions.jsonl"}],
            "sampling": {"temperature": 0.5, "stream": True},
            "load": {"users": users, "spawn_rate": users, "duration_s": duration_s},
        }
        if (
            rate_rps is not None
        ):  # open loop: the arrival rate reaches each worker in the master's step message
            data["load"] = {"duration_s": duration_s, "arrival": {"rate_rps": rate_rps, "process": "poisson"}}
        (self.scenario_dir / "s.yaml").write_text(yaml.safe_dump(data), "utf-8")
        self.master: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self, workers: int = 2, *, late_setup_s: float = 0.0) -> None:
        """The master and ``workers`` workers; the last one set up ``late_setup_s`` after it connects."""
        self.master = _popen(
            self.tmp / "master.out",
            [
                sys.executable,
                "-m",
                "bench",
                "run",
                str(self.scenario_dir / "s.yaml"),
                "--host",
                self.mock.url,
                "--master",
                "--expect-workers",
                str(workers),
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(self.port),
                "--results-dir",
                str(self.results),
                "--run-id",
                "r",
                "--no-slo",
            ],
        )
        for i in range(workers):
            self.workers.append(self._worker(i, late_setup_s if i == workers - 1 else 0.0))

    def _worker(self, i: int, late_setup_s: float = 0.0) -> subprocess.Popen[bytes]:
        # In its own mount namespace: an empty tmpfs over the results and the scenario folder; it
        # refuses to start if it can still see the prompt file (the test would then prove nothing).
        command = '"$3" -m bench worker --master-host 127.0.0.1 --master-port "$4"'
        if late_setup_s:
            # Plain Locust, on a machine slow to set up: Locust fires init only after the worker has
            # connected, and here the master's start comes in between.
            code = (
                "import sys, gevent, locust.runners as r, locust.main as m\n"
                "connect = r.WorkerRunner.connect_to_master\n"
                f"r.WorkerRunner.connect_to_master = lambda self: (connect(self), gevent.sleep({late_setup_s}))\n"
                "sys.argv = ['locust', *sys.argv[1:]]\n"
                "m.main()\n"
            )
            command = (
                f'"$3" -c "{code}" -f {ROOT / "bench" / "load" / "locustfile.py"} --worker '
                '--master-host 127.0.0.1 --master-port "$4"'
            )
        script = (
            'mount -t tmpfs tmpfs "$1" && mount -t tmpfs tmpfs "$2" && test ! -e "$2/questions.jsonl" '
            f"&& exec {command}"
        )
        return subprocess.Popen(
            [
                "unshare",
                "--mount",
                "sh",
                "-c",
                script,
                "sh",
                str(self.results),
                str(self.scenario_dir),
                sys.executable,
                str(self.port),
            ],
        )

    def wait(self, timeout_s: float = 120.0) -> int:
        assert self.master is not None
        try:
            return self.master.wait(timeout_s)
        finally:
            for w in self.workers:
                try:
                    w.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(w.pid, signal.SIGKILL)
                    w.wait(5)

    def output(self) -> str:
        return (self.tmp / "master.out").read_text("utf-8", "replace")

    def wait_for_records(self, n: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            files = list((self.run_dir / "records").glob("*.jsonl"))
            if sum(len(f.read_bytes().splitlines()) for f in files) >= n and len(files) == len(self.workers):
                return
            time.sleep(0.2)
        raise AssertionError(f"fewer than {n} records after {timeout_s:g} s:\n{self.output()}")

    def close(self) -> None:
        for proc in [*self.workers, *([self.master] if self.master else [])]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.mock.stop()

    def truth(self) -> dict[str, object]:
        self.mock.stop()  # the truth log is complete once the mock has stopped
        return read_truth_log(self.tmp / "truth.jsonl")


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[type[Cluster]]:
    made: list[Cluster] = []

    def make(**kw: object) -> Cluster:
        c = Cluster(tmp_path, **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make  # type: ignore[misc]
    for c in made:
        c.close()


def _ids(records: list) -> set[str]:  # type: ignore[type-arg]
    return {r.request_id for r in records}


def test_two_workers_without_the_masters_files_record_every_request_even_mid_stream(cluster_factory) -> None:
    cluster = cluster_factory(duration_s=3.0)  # 1.2 s answers: streams are in flight when the load stops
    cluster.start()
    code = cluster.wait()
    assert code == 0, cluster.output()
    records = read_records(cluster.run_dir)
    truth = cluster.truth()
    assert _ids(records) == set(truth) and len(records) == len(truth) >= 8, cluster.output()
    assert {r.worker for r in records} == {"w0", "w1"}
    assert all(r.ok and r.prompt_set == "q" and r.chunks == 50 for r in records)
    load_end_s = min(r.started_at_s for r in records) + 3.0
    in_flight_at_end = [r for r in records if r.started_at_s < load_end_s < r.started_at_s + r.e2e_ms / 1000]
    assert in_flight_at_end, "no stream was in flight when the load stopped"
    run = json.loads((cluster.run_dir / "run.json").read_text())
    assert run["records"] == len(records) and run["lost_workers"] == []
    assert sorted(run["workers"]) == ["w0", "w1"]
    assert (cluster.run_dir / "monitor" / "w0.jsonl").is_file()  # the workers' monitor lines came too


@pytest.mark.parametrize("rate_rps", [None, 6.0], ids=["closed-loop", "open-loop"])
def test_a_worker_set_up_after_the_masters_start_still_carries_its_share(cluster_factory, rate_rps) -> None:
    # The master starts the load within its 1 s poll of the workers; this worker's set-up comes 2 s
    # after it connected, so the master's spawn (and its first step) reach it before Locust's init event.
    cluster = cluster_factory(duration_s=4.0, rate_rps=rate_rps)
    cluster.start(late_setup_s=2.0)
    code = cluster.wait()
    assert code == 0, cluster.output()
    records = read_records(cluster.run_dir)
    truth = cluster.truth()
    assert _ids(records) == set(truth) and len(truth) >= 8, cluster.output()
    per_worker = {w: sum(r.worker == w for r in records) for w in ("w0", "w1")}
    assert all(per_worker.values()), per_worker


def test_ctrl_c_at_the_master_keeps_every_request_the_server_saw(cluster_factory) -> None:
    cluster = cluster_factory(duration_s=60.0)
    cluster.start()
    cluster.wait_for_records(8)
    assert cluster.master is not None
    os.killpg(cluster.master.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code = cluster.wait(60)
    assert code == 130, cluster.output()
    records = read_records(cluster.run_dir)
    truth = cluster.truth()
    assert _ids(records) == set(truth), cluster.output()
    assert {r.worker for r in records} == {"w0", "w1"}
    assert (cluster.run_dir / "records.parquet").is_file()


def test_a_worker_killed_mid_run_is_named_and_loses_at_most_its_last_batch(cluster_factory) -> None:
    cluster = cluster_factory(duration_s=8.0, users=6)
    cluster.start()
    cluster.wait_for_records(10)
    victim = cluster.workers[1]
    killed_at = time.monotonic()  # the mock's truth log is on the same CLOCK_MONOTONIC
    os.kill(victim.pid, signal.SIGKILL)
    code = cluster.wait(90)
    assert code == 0, cluster.output()
    records = read_records(cluster.run_dir)
    truth = cluster.truth()
    run = json.loads((cluster.run_dir / "run.json").read_text())
    lost = run["lost_workers"]
    assert len(lost) == 1, run
    name = lost[0]["worker"]
    # Every request the server saw is recorded, except the lost worker's last moments: those that were
    # in flight when it died, or ended within its last unsent batch (plus a little for the kill itself).
    missing = set(truth) - _ids(records)
    for rid in missing:
        done = truth[rid].done_mono_s  # type: ignore[attr-defined]
        assert done is None or done >= killed_at - FLUSH_S - 0.2, (rid, killed_at - done)
    survivor = next(w for w in ("w0", "w1") if w != name)
    assert any(r.worker == survivor and r.started_at_s > time.time() - 60 for r in records)
    # The report names the lost worker.
    summary = json.loads((cluster.run_dir / "summary.json").read_text())
    assert any(f"worker {name} was lost" in w for w in summary["warnings"]), summary["warnings"]
    assert f"worker {name} was lost" in (cluster.run_dir / "report.html").read_text()
    assert f"worker {name} was lost" in cluster.output()
