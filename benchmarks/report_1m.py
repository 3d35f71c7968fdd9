"""Benchmark: build a full report (summary.json, summary.md, report.html, plots) from 1,000,000 records,
or 10,000,000 (a soak of almost 3 hours at 1,000 requests/s).

Not a test: it prints figures. Targets (issues 16 and 17): 1M records under 8 s and at most 1.34 GiB
peak RSS for the report process; 10M records at most 60 s and 6 GiB.

    .venv/bin/python benchmarks/report_1m.py [--records 1000000|10000000] [--keep DIR] [--json FILE]

The synthetic run has realistic shapes: a 30 s ramp to ~250 requests in flight, then steady arrivals
over 30 minutes (1M records) or records / 1,000 seconds (more), 20-50 chunk gaps per streamed answer
(~31 million gaps per million records), 10 % non-streamed, 1 % failures of several kinds, three
temperatures and a uniform top_p. It is made and written as ``records.parquet`` one million records
(one row group) at a time, so making 10M records holds one million in memory; the first million is the
same whatever ``--records`` says. Then the report is built in a fresh child process whose peak RSS is
read from the OS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

T0 = 1_700_000_000.0
LOAD_CHILD = """
import sys, time
t = time.perf_counter()
from bench.analysis.frames import load_records
frame = load_records(sys.argv[1])
print(f"{time.perf_counter() - t:.3f} {len(frame)} {frame.itl_values.size} {frame.df.memory_usage(deep=True).sum()}")
"""
REPORT_CHILD = """
import sys, time
t = time.perf_counter()
from bench.report import build_report
t_import = time.perf_counter() - t
t, cpu = time.perf_counter(), time.process_time()
build_report(sys.argv[1])
print(f"{t_import:.3f} {time.perf_counter() - t:.3f} {time.process_time() - cpu:.3f}")
"""


def run_child(code: str, run: Path) -> tuple[list[str], float, float]:
    """Run ``code`` in a fresh interpreter; its stdout words, wall time (s) and peak RSS (GiB)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"child failed with exit code {proc.returncode}")
    return out.split(), time.perf_counter() - t, usage.ru_maxrss / 2**20  # Linux: ru_maxrss in KiB


PART = 1_000_000  # records made and written at a time (one Parquet row group)
TARGETS = {1_000_000: (8.0, 1.34), 10_000_000: (60.0, 6.0)}  # records -> (s, GiB) the issues ask for


def synthetic_table(
    n: int, seed: int = 1, *, first: int = 0, part: tuple[int, int] = (0, 1), duration_s: float = 1800.0
) -> pa.Table:
    """``n`` records numbered from ``first``: part ``part[0]`` of ``part[1]`` equal parts of a run of
    ``duration_s`` seconds (their start times lie in that part's share of the arrivals)."""
    rng = np.random.default_rng(seed)
    stream = rng.random(n) < 0.9
    failed = rng.random(n) < 0.01
    kinds = np.array(["http_error", "total_timeout", "connection_reset", "stream_incomplete"], dtype=object)
    error_kind = np.where(failed, kinds[rng.integers(0, kinds.size, n)], None)
    status = np.where(failed & (error_kind == "http_error"), 503, 200)
    prompt_tokens = rng.integers(50, 2000, n)
    gaps_per = np.where(stream & ~failed, rng.integers(20, 51, n), 0)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(gaps_per, out=offsets[1:])
    gaps = np.round(
        rng.gamma(4.0, 3.0, int(offsets[-1])), 4
    )  # ~12 ms mean, right-skewed; JSONL keeps 4 decimals
    # A 0 appended: trailing answers without gaps start at len(gaps), which reduceat needs in range.
    sums = np.add.reduceat(np.append(gaps, 0.0), offsets[:-1]) if gaps.size else np.zeros(n)
    sums = np.where(gaps_per > 0, sums, 0.0)
    ttft = 60 + prompt_tokens * 0.08 + rng.gamma(2.0, 40.0, n)
    e2e = np.where(stream, ttft + sums, ttft + gaps_per.mean() * 12)
    e2e = np.where(failed, rng.uniform(1, 5000, n), e2e)
    # Ramp-up over 30 s then steady arrivals: start times by inverse CDF of that density.
    u = (part[0] + np.sort(rng.random(n))) / part[1]
    ramp, total = 30.0, duration_s - 15.0
    mass_ramp = ramp / 2 / (ramp / 2 + total - ramp)
    starts = np.where(
        u < mass_ramp,
        ramp * np.sqrt(u / mass_ramp),
        ramp + (u - mass_ramp) / (1 - mass_ramp) * (total - ramp),
    )
    temperature = np.array([0.2, 0.7, 1.0])[rng.integers(0, 3, n)]
    top_p = rng.uniform(0.8, 1.0, n)
    output_tokens = np.where(failed, None, np.where(stream, gaps_per + 1, rng.integers(20, 51, n)))
    ttft_col = np.where(stream & ~failed, ttft, np.nan)
    itl = pa.ListArray.from_arrays(pa.array(offsets), pa.array(gaps))
    return pa.table(
        {
            "run_id": pa.array(["bench"] * n),
            "worker": pa.array(np.array(["w0", "w1"], dtype=object)[np.arange(n) % 2]),
            "user": pa.array((first + np.arange(n)) % 250),
            "request_id": pa.array([f"r{i}" for i in range(first, first + n)]),
            "scenario": pa.array(["bench-1m"] * n),
            "prompt_set": pa.array(np.array(["zh-chat", "code"], dtype=object)[rng.integers(0, 2, n)]),
            "prompt_id": pa.array([f"p{i % 5000}" for i in range(n)]),
            "turn": pa.array(np.zeros(n, dtype=np.int64)),
            "step": pa.array(np.zeros(n, dtype=np.int64)),
            "stream": pa.array(stream),
            "temperature": pa.array(temperature),
            "top_p": pa.array(top_p),
            "presence_penalty": pa.nulls(n, pa.float64()),
            "frequency_penalty": pa.nulls(n, pa.float64()),
            "max_tokens": pa.nulls(n, pa.int64()),
            "scheduled_at_s": pa.nulls(n, pa.float64()),
            "started_at_s": pa.array(T0 + starts),
            "start_mono_s": pa.array(1000.0 + starts),
            "client_lag_ms": pa.nulls(n, pa.float64()),
            "ttft_ms": pa.array(ttft_col, from_pandas=True),
            "itl_ms": itl,
            "e2e_ms": pa.array(e2e),
            "prompt_tokens": pa.array(prompt_tokens),
            "output_tokens": pa.array(output_tokens, type=pa.int64()),
            "token_source": pa.array(["usage"] * n),
            "chunks": pa.array(np.where(stream, gaps_per + 1, 1)),
            "finish_reason": pa.array(np.where(failed, None, "stop")),
            "status": pa.array(status),
            "error_kind": pa.array(error_kind, type=pa.string()),
            "error_message": pa.array(np.where(failed, "server said no", None), type=pa.string()),
            "lg_cpu_pct": pa.array(rng.uniform(5, 30, n)),
        }
    )


def write_records(path: Path, records: int) -> float:
    """Make ``records`` synthetic records and write them to ``path`` a part at a time; the writing time."""
    parts = max(-(-records // PART), 1)
    duration_s = max(1800.0, records / 1000.0)
    writing = 0.0
    writer = None
    for k in range(parts):
        first = k * PART
        table = synthetic_table(min(PART, records - first), seed=1 + k, first=first, part=(k, parts),
                                duration_s=duration_s)  # fmt: skip
        t = time.perf_counter()
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        writing += time.perf_counter() - t
        del table
    if writer is not None:
        writer.close()
    return writing


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="write the run here and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp) / "run"
        run.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        t_write = write_records(run / "records.parquet", args.records)
        t_gen = time.perf_counter() - t - t_write
        scenario = {
            "name": "bench-1m",
            "slo": {"ttft_ms": {"p95": 400}, "tpot_ms": {"p99": 20}, "error_rate": 0.02},
        }
        (run / "scenario.json").write_text(json.dumps(scenario))
        (run / "run.json").write_text(json.dumps({"run_id": "bench-1m", "started_at_s": T0}))
        size_mib = (run / "records.parquet").stat().st_size / 2**20
        print(
            f"synthetic records: {args.records:,} generated in {t_gen:.2f} s, Parquet written in {t_write:.2f} s ({size_mib:.0f} MiB)"
        )
        (t_load, rows, gaps, frame_bytes), _, load_peak = run_child(LOAD_CHILD, run)
        print(
            f"load_records: {float(t_load):.2f} s for {int(rows):,} rows and {int(gaps):,} chunk gaps "
            f"(frame {int(frame_bytes) / 2**20:.0f} MiB + gaps {int(gaps) * 8 / 2**20:.0f} MiB), "
            f"peak RSS {load_peak:.2f} GiB"
        )
        (t_import, t_report, cpu_report), wall, peak = run_child(REPORT_CHILD, run)
        print(
            f"build_report (load + analysis + 6 plots + json/md/html): {float(t_report):.2f} s wall, "
            f"{float(cpu_report):.2f} s CPU (the machine is shared: CPU time is the steadier figure)"
        )
        print(
            f"  imports of pandas/matplotlib/pyarrow before it: {float(t_import):.2f} s; process wall {wall:.2f} s"
        )
        print(f"peak RSS of the report process: {peak:.2f} GiB")
        if args.json:
            figures = {"records": args.records, "gaps": int(gaps), "build_report_s": float(t_report),
                       "build_report_cpu_s": float(cpu_report), "peak_rss_gib": peak}  # fmt: skip
            args.json.write_text(json.dumps(figures, indent=2))
        limit_s, limit_gib = TARGETS.get(args.records, (None, None))
        if limit_s is not None and limit_gib is not None:
            print(
                f"target < {limit_s:g} s: {'met' if float(t_report) < limit_s else 'MISSED'}; "
                f"target <= {limit_gib:g} GiB: {'met' if peak <= limit_gib else 'MISSED'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
