"""Side by side with a real peer: chatbench and NVIDIA AIPerf on the same mock, judged by its truth log.

Each tool runs closed loop at the same concurrency levels (default 1, 8, 32, 128) against a fresh embedded
mock whose pace is fixed (100 ms to the first token, 20 ms between tokens, 32 one-token chunks, no queue:
the server's true timing is known and does not depend on the load). The mock logs the monotonic time it
wrote every chunk, keyed by the ``X-Request-Id`` header; both tools send one per request (AIPerf a UUID
of its own). Both tools stamp on CLOCK_MONOTONIC (``time.perf_counter``), so a tool's own send time and the
mock's write times are on one axis, and each tool's error is what it reported minus what happened:

    TTFT error = reported TTFT - (first chunk written - the tool's own send time)
    ITL error  = reported gap i - (chunk i+1 written - chunk i written)
    E2E error  = reported latency - ([DONE] written - the tool's own send time)

(``bench.truth``; the same join ``chatbench calibrate`` and the ground-truth tests use.) The requests
judged are those that started after the warm-up and ended before the cool-down of each tool's own run.
The CPU per request is the tool's whole process tree (AIPerf runs several processes), sampled from
/proc every 0.25 s and taken over the same window, divided by the requests that ended in it.

AIPerf is about 1.2 GB with its dependencies, so it lives in its own environment and is never a
dependency of chatbench:

    python3 -m venv ~/.cache/chatbench/aiperf-venv
    ~/.cache/chatbench/aiperf-venv/bin/pip install aiperf==0.13.0
    .venv/bin/python benchmarks/peer_compare.py --aiperf ~/.cache/chatbench/aiperf-venv/bin/aiperf

The exact AIPerf flags are printed with the results. ``--tokenizer`` points at the tokenizer shipped in
``../shared/models`` (AIPerf needs one, and fetches nothing then); ``--use-server-token-count`` takes the
mock's exact ``usage``; ``--num-dataset-entries`` is larger than the requests sent, so AIPerf never
reuses a prompt it has already built (prompt caching would favour it). Pinning (``--pin``) puts the mock
on core 0 and the tool on core 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.instrument.cpu import busy_cpu_s, tree_cpu_s
from bench.instrument.truth import compare, read_records, read_truth_log
from bench.mock import MockSettings, start_mock
from bench.records import Record

REPO = Path(__file__).resolve().parents[1]
TOKENIZER = (REPO.parent / "shared" / "models" / "stories260K-tokenizer").resolve()
PACE = {"ttft_ms": 100.0, "itl_ms": 20.0, "output_tokens": 32}


@dataclass
class TreeCpu:
    """CPU seconds of the tool's and the mock's process trees, and of the whole machine, over time.

    Sampled in a thread every 0.25 s (the tool's children come and go); the machine's busy CPU minus
    the tool's and the mock's is the other load the run shared the machine with.
    """

    pid: int
    mock_pid: int
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import psutil

        seen: dict[int, float] = {}  # pid -> last CPU seconds (kept after the process exits)
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for proc in procs:
                try:
                    t = proc.cpu_times()
                    seen[proc.pid] = t.user + t.system
                except psutil.Error:
                    pass
            self.samples.append(
                (time.monotonic(), sum(seen.values()), tree_cpu_s([self.mock_pid]), busy_cpu_s())
            )
            self._stop.wait(0.25)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, t0: float, t1: float) -> tuple[float, float]:
        """(the tool's CPU seconds, the other load in cores) between two monotonic times."""
        import numpy as np

        times = np.array([s[0] for s in self.samples])
        tool, mock, busy = (np.array([s[i] for s in self.samples]) for i in (1, 2, 3))

        def used(values: np.ndarray) -> float:
            return float(np.interp(t1, times, values) - np.interp(t0, times, values))

        return used(tool), (used(busy) - used(tool) - used(mock)) / max(t1 - t0, 1e-9)


def _mock_settings(truth_log: Path) -> MockSettings:
    return MockSettings(
        port=0,
        profile="openai",
        model="o",
        batch_slots=100_000,
        prefill_base_ms=PACE["ttft_ms"],
        prefill_per_token_ms=0.0,
        tpot_ms=PACE["itl_ms"],
        batch_slowdown=0.0,
        output_dist="fixed",
        output_tokens=PACE["output_tokens"],
        truth_log=str(truth_log),
    )


def _pin(pin: bool, core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if pin and shutil.which("taskset") else []


def run_chatbench(
    url: str, mock_pid: int, users: int, duration_s: float, work: Path, pin: bool
) -> tuple[list[Record], TreeCpu]:
    scenario = {
        "name": f"peer-{users}",
        "seed": 1,
        "target": {"base_url": url, "model": "o", "profile": "openai"},
        "prompt_sets": [{"name": "peer", "inline": ["Tell me a story about a small robot."]}],
        "sampling": {"temperature": 0.7, "stream": True},
        "load": {"users": users, "spawn_rate": users, "duration_s": duration_s},
    }
    path = work / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    command = [*_pin(pin, 1), sys.executable, "-m", "bench", "run", str(path), "--no-slo"]
    command += ["--results-dir", str(work / "results"), "--run-id", "run"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meter = TreeCpu(proc.pid, mock_pid)
    proc.wait(timeout=duration_s + 300)
    meter.stop()
    return read_records(work / "results" / "run"), meter


AIPERF_FLAGS = [
    "--model", "o", "--endpoint-type", "chat", "--streaming",
    "--use-server-token-count", "--isl", "32", "--isl-stddev", "0",
    "--random-seed", "1", "--export-level", "raw", "--ui-type", "none",
]  # fmt: skip


def aiperf_command(aiperf: str, url: str, users: int, duration_s: float, artifacts: Path) -> list[str]:
    # Enough distinct prompts for every request the run can send (about users / 0.74 s per request).
    entries = max(1000, int(users * duration_s / 0.7 * 1.5))
    return [
        aiperf, "profile", "--url", url, *AIPERF_FLAGS,
        "--concurrency", str(users), "--benchmark-duration", str(duration_s),
        "--tokenizer", str(TOKENIZER), "--num-dataset-entries", str(entries),
        "--artifact-dir", str(artifacts),
    ]  # fmt: skip


def run_aiperf(
    aiperf: str, url: str, mock_pid: int, users: int, duration_s: float, work: Path, pin: bool
) -> tuple[list[Record], TreeCpu]:
    artifacts = work / "aiperf"
    command = [*_pin(pin, 1), *aiperf_command(aiperf, url, users, duration_s, artifacts)]
    env = dict(os.environ)
    with (work / "aiperf.log").open("wb") as log:
        proc = subprocess.Popen(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env)
        meter = TreeCpu(proc.pid, mock_pid)
        proc.wait(timeout=duration_s + 600)
    meter.stop()
    if not (artifacts / "profile_export_raw.jsonl").exists():
        tail = (work / "aiperf.log").read_text(errors="replace").strip().splitlines()[-15:]
        sys.exit("peer_compare: aiperf wrote no per-request export; its last lines:\n" + "\n".join(tail))
    return read_aiperf(artifacts), meter


def read_aiperf(artifacts: Path) -> list[Record]:
    """AIPerf's per-request metrics (profile_export.jsonl) joined with its send times (raw export)."""
    start: dict[str, float] = {}
    for line in (artifacts / "profile_export_raw.jsonl").read_bytes().splitlines():
        row = json.loads(line)
        start[row["metadata"]["x_request_id"]] = row["start_perf_ns"] / 1e9
    records = []
    for line in (artifacts / "profile_export.jsonl").read_bytes().splitlines():
        row = json.loads(line)
        rid = row["metadata"]["x_request_id"]
        metrics = row.get("metrics") or {}
        if rid not in start or row.get("error") or "time_to_first_token" not in metrics:
            continue
        itl = metrics.get("inter_chunk_latency", {}).get("value") or []
        records.append(
            _record(
                rid,
                start[rid],
                metrics["time_to_first_token"]["value"],
                itl if isinstance(itl, list) else [itl],
                metrics["request_latency"]["value"],
            )
        )
    return records


def _record(
    request_id: str, start_mono_s: float, ttft_ms: float, itl_ms: list[float], e2e_ms: float
) -> Record:
    return Record(
        run_id="peer", worker="aiperf", user=0, request_id=request_id, scenario="peer", prompt_set="peer",
        prompt_id="0", turn=0, step=0, stream=True, temperature=None, top_p=None, presence_penalty=None,
        frequency_penalty=None, max_tokens=None, scheduled_at_s=None, started_at_s=0.0,
        start_mono_s=start_mono_s, client_lag_ms=None, ttft_ms=ttft_ms, itl_ms=array("d", itl_ms),
        e2e_ms=e2e_ms, prompt_tokens=None, output_tokens=len(itl_ms) + 1, token_source="usage",
        chunks=len(itl_ms) + 1, finish_reason="stop", status=200, error_kind=None, error_message=None,
    )  # fmt: skip


def judge(
    records: list[Record], truth_log: Path, meter: TreeCpu, warm_s: float, cool_s: float
) -> dict[str, Any]:
    ok = [r for r in records if r.ok and r.e2e_ms is not None]
    if not ok:
        return {"requests": 0}
    first = min(r.start_mono_s for r in ok)
    last = max(r.start_mono_s + r.e2e_ms / 1000 for r in ok)  # type: ignore[operator]
    w0, w1 = first + warm_s, last - cool_s
    inside = [r for r in ok if r.start_mono_s >= w0 and r.start_mono_s + r.e2e_ms / 1000 <= w1]  # type: ignore[operator]
    ended = sum(1 for r in ok if w0 <= r.start_mono_s + r.e2e_ms / 1000 < w1)  # type: ignore[operator]
    truth = read_truth_log(truth_log)
    report = compare(inside, {r.request_id: truth[r.request_id] for r in inside if r.request_id in truth})
    cpu_s, other_cores = meter.between(w0, w1)
    ttfts = sorted(r.ttft_ms for r in inside if r.ttft_ms is not None)
    return {
        "requests": len(inside),
        "unpaired": len(report.records_without_truth),
        "ttft_p99_err_ms": report.ttft.p99_ms,
        "itl_p99_err_ms": report.itl.p99_ms,
        "e2e_p99_err_ms": report.e2e.p99_ms,
        "cpu_ms_per_request": 1000.0 * cpu_s / ended if ended else None,
        "req_per_s": ended / max(w1 - w0, 1e-9),
        "ttft_p50_ms": ttfts[len(ttfts) // 2] if ttfts else None,
        "other_load_cores": other_cores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aiperf", required=True, help="the aiperf command of its own environment")
    parser.add_argument("--levels", default="1,8,32,128", help="concurrency levels (default: 1,8,32,128)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per tool and level")
    parser.add_argument("--warm", type=float, default=4.0, help="seconds left out at the start")
    parser.add_argument("--cool", type=float, default=2.0, help="seconds left out at the end")
    parser.add_argument("--pin", action="store_true", help="mock on core 0, the tool on core 1")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args()
    if not TOKENIZER.is_dir():
        sys.exit(f"peer_compare: no tokenizer at {TOKENIZER} (../shared/models)")
    levels = [int(x) for x in args.levels.split(",")]
    rows = []
    shown = aiperf_command("aiperf", "URL", 1, args.duration, Path("DIR"))
    print(
        "AIPerf flags (per level: --concurrency N, --num-dataset-entries >= 1.5x the requests): "
        + " ".join(shown),
        flush=True,
    )
    for users in levels:
        for tool in ("chatbench", "aiperf"):
            with tempfile.TemporaryDirectory(prefix=f"peer-{tool}-{users}-") as tmp:
                work = Path(tmp)
                truth_log = work / "truth.jsonl"
                with start_mock(_mock_settings(truth_log), log_path=work / "mock.log") as mock:
                    if args.pin:
                        subprocess.run(["taskset", "-pc", "0", str(mock.pid)], capture_output=True)
                    runner = run_chatbench if tool == "chatbench" else run_aiperf
                    extra = () if tool == "chatbench" else (args.aiperf,)
                    records, meter = runner(
                        *extra, str(mock.url), mock.pid, users, args.duration, work, args.pin
                    )  # type: ignore[operator]
                time.sleep(0.5)  # the truth log is flushed when the mock stops
                row = {"tool": tool, "users": users, **judge(records, truth_log, meter, args.warm, args.cool)}
                rows.append(row)
                print(_line(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")


def _line(row: dict[str, Any]) -> str:
    def f(value: Any, spec: str = ".2f") -> str:
        return "-" if value is None else format(value, spec)

    return (
        f"{row['tool']:<10} users {row['users']:>4}  requests {row.get('requests', 0):>5}  "
        f"p99 |err| ms TTFT {f(row.get('ttft_p99_err_ms'))} ITL {f(row.get('itl_p99_err_ms'))} "
        f"E2E {f(row.get('e2e_p99_err_ms'))}  CPU/request {f(row.get('cpu_ms_per_request'))} ms  "
        f"req/s {f(row.get('req_per_s'))}  TTFT p50 {f(row.get('ttft_p50_ms'))} ms  unpaired {row.get('unpaired', 0)}  "
        f"other load {f(row.get('other_load_cores'))} cores"
    )


if __name__ == "__main__":
    main()
