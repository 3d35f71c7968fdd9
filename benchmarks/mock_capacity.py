"""How much the embedded mock serves on one core: non-streaming req/s and streamed chunks/s.

The mock is pinned to core 0 and wrk (``apt-get install -y wrk``) to core 1; each case prints the
rate wrk saw and the mock's CPU use over the same window (from /proc/<pid>/stat), so a figure near
100 % CPU is the mock's ceiling and one far below it is the client's. Paced streams also write the
truth log, from which the mock's own chunk lateness (actual write time minus its slot on the
schedule) is reported. The machine may be shared: the busy-core count of the whole box is printed
next to each row.

    .venv/bin/python benchmarks/mock_capacity.py [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from bench.mock import MockSettings, start_mock

TICK_S = os.sysconf("SC_CLK_TCK")
MOCK_CPU, CLIENT_CPU = 0, 1
BODY = '{{"model":"o","messages":[{{"role":"user","content":"Say something about batching."}}],"stream":{stream},"temperature":{temperature}}}'
LUA = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""
FREE = MockSettings(
    port=0,
    batch_slots=1_000_000,
    prefill_base_ms=0.0,
    prefill_per_token_ms=0.0,
    tpot_ms=0.0,
    batch_slowdown=0.0,
    output_dist="fixed",
)


@dataclass
class Case:
    name: str
    settings: MockSettings
    stream: bool
    connections: int
    temperature: float = 0.0
    chunks_per_request: int = 0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S


def busy_cores() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return float(sum(values) - values[3] - values[4])  # all but idle and iowait, in ticks


def wait_for_quiet(max_wait_s: float = 60.0, busy_limit: float = 0.3) -> float:
    """Wait (at most ``max_wait_s``) until the box has fewer than ``busy_limit`` busy cores; returns the last reading."""
    deadline = time.monotonic() + max_wait_s
    while True:
        b0, t0 = busy_cores(), time.monotonic()
        time.sleep(1.0)
        busy = (busy_cores() - b0) / TICK_S / (time.monotonic() - t0)
        if busy < busy_limit or time.monotonic() > deadline:
            return busy


def run_case(case: Case, duration_s: float, pin: bool = True) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        body = BODY.format(stream="true" if case.stream else "false", temperature=case.temperature)
        script.write_text(LUA.format(body=body))
        truth = Path(tmp) / "truth.jsonl" if case.chunks_per_request and case.settings.tpot_ms else None
        settings = replace(case.settings, truth_log=str(truth) if truth else None)
        with start_mock(settings) as mock:
            if pin:
                os.sched_setaffinity(mock.pid, {MOCK_CPU})
            cmd = ["taskset", "-c", str(CLIENT_CPU), "wrk", "-t1", f"-c{case.connections}"]
            cmd += [f"-d{duration_s:g}s", "--timeout", "30s", "-s", str(script)]
            cmd.append(mock.url + "/v1/chat/completions")
            cpu0, busy0, t0 = cpu_s(mock.pid), busy_cores(), time.monotonic()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            cpu1, busy1, t1 = cpu_s(mock.pid), busy_cores(), time.monotonic()
            mock.stop()
        cpu_share = (cpu1 - cpu0) / (t1 - t0)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
        row: dict[str, object] = {
            "case": case.name,
            "conns": case.connections,
            "req/s": round(rps),
            "chunks/s": round(rps * case.chunks_per_request) if case.stream else "-",
            "mock CPU %": round(100 * cpu_share, 1),
            # What one fully used core would serve at this per-request cost (the figure that survives a busy box).
            "per mock CPU-s": round((rps * (case.chunks_per_request or 1)) / max(cpu_share, 1e-9)),
            "box busy cores": round((busy1 - busy0) / TICK_S / (t1 - t0), 2),
            "errors": errors.group(0) if errors else "none",
        }
        if truth is not None:
            row["lateness p50/p99 ms"] = lateness(truth, settings)
        return row


def lateness(truth: Path, s: MockSettings) -> str:
    """Each chunk's write time minus its slot on the schedule (admission + prefill + i * tpot), ms."""
    late: list[float] = []
    for raw in truth.read_bytes().splitlines():
        line = orjson.loads(raw)
        if line["status"] != 200 or not line["chunk_mono_s"] or line["admitted_mono_s"] is None:
            continue
        start = line["admitted_mono_s"] + s.prefill_base_ms / 1000.0
        late += [(t - start - i * s.tpot_ms / 1000.0) * 1000 for i, t in enumerate(line["chunk_mono_s"])]
    if len(late) < 100:
        return "-"
    q = statistics.quantiles(late, n=100)
    return f"{statistics.median(late):.2f} / {q[98]:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per case (default 10)")
    parser.add_argument("--quick", action="store_true", help="one case of each kind")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=60.0,
        help="seconds to wait for a quiet box before each case (default 60)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="let the mock run on any core (wrk stays on core 1)"
    )
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    if os.cpu_count() is None or os.cpu_count() < 2:  # type: ignore[operator]
        print("needs two cores (mock on one, wrk on the other)", file=sys.stderr)
        return 2
    paced = replace(FREE, tpot_ms=20.0, output_tokens=50)
    cases = [
        Case("plain, 16 tokens, temperature 0 (cached answer)", replace(FREE, output_tokens=16), False, 64),
        Case("plain, 16 tokens, temperature 0.7 (drawn)", replace(FREE, output_tokens=16), False, 64, 0.7),
        Case("plain, 16 tokens, temperature 0.7 (drawn)", replace(FREE, output_tokens=16), False, 256, 0.7),
        Case("stream burst, 200 tokens", replace(FREE, output_tokens=200), True, 64, 0.7, 200),
        Case("stream paced 20 ms, 50 tokens", paced, True, 256, 0.7, 50),
        Case("stream paced 20 ms, 50 tokens", paced, True, 512, 0.7, 50),
        Case("stream paced 20 ms, 50 tokens", paced, True, 1024, 0.7, 50),
        Case("stream paced 20 ms, 50 tokens", paced, True, 2048, 0.7, 50),
    ]
    if args.quick:
        cases = [cases[1], cases[3], cases[5]]
    cases = [c for c in cases if args.only in c.name]
    rows = []
    for case in cases:
        quiet = wait_for_quiet(args.max_wait)
        row = run_case(case, args.duration, pin=not args.no_pin)
        row["busy before"] = round(quiet, 2)
        rows.append(row)
        print(" | ".join(f"{k}: {v}" for k, v in row.items()), flush=True)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    print()
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "-")) for k in keys) + " |")
    if args.json:
        args.json.write_text(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
