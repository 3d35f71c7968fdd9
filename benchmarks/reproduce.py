"""Remake every figure the README quotes, N times, and print each as min / median / max.

A figure quoted once, from one good run, does not say how far it can be trusted; the same figure
measured several times, with the other load the machine carried beside it, does. This script runs the
benchmarks the README quotes, each ``--repeat`` times, reads the JSON each one writes, and prints one line
per figure with its min, median and max over the repeats and the range of other load (busy cores that
were not the benchmark's own) seen while it ran:

- ``accuracy``: the ground-truth sweep (``truth_sweep.py``): p99 |timing error| of TTFT, every chunk gap
  and E2E, chunks/s and load-generator CPU at 1, 64, 256 and 512 streams;
- ``calibrate``: ``chatbench calibrate``: streams and non-streamed requests/s within 1 ms p99;
- ``side_by_side``: ``aiohttp_reference.py --search``: chatbench's highest paced load within 2 ms p99
  over asyncio + aiohttp + uvloop's, closed and open loop (a bisection, not a doubling grid);
- ``mock``: ``mock_capacity.py --quick``: what the mock serves per CPU-second (needs wrk);
- ``report_1m``: ``report_1m.py``: the full report of 1,000,000 records, time and peak memory.

    .venv/bin/python benchmarks/reproduce.py                         # everything, 3 times (about 1 hour)
    .venv/bin/python benchmarks/reproduce.py --only accuracy,report_1m --repeat 5 --json figures.json

Quote figures as the ranges printed here, with this command. A figure whose range is wide, or that was
measured with much other load, is a figure to measure again, not to publish.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable

Figures = dict[str, float | None]


def _accuracy(data: Any) -> tuple[Figures, list[float]]:
    figures: Figures = {}
    for row in data:
        n = row["users"]
        for key in ("ttft", "itl", "e2e"):
            figures[f"{n} streams: {key.upper()} p99 |err| ms"] = row["truth"][key]["p99_ms"]
        figures[f"{n} streams: chunks/s"] = row["chunks_per_s"]
        figures[f"{n} streams: load-generator CPU %"] = row["lg_cpu_pct"]
    return figures, [row["foreign_cores"] or 0.0 for row in data]


def _calibrate(data: Any) -> tuple[Figures, list[float]]:
    stream, plain = data.get("stream") or {}, data.get("nonstream") or {}
    figures: Figures = {
        "streams within 1 ms": stream.get("max_streams"),
        "chunks/s within 1 ms": stream.get("chunks_per_s"),
        "non-streamed req/s within 1 ms": plain.get("requests_per_s"),
    }
    return figures, [s.get("foreign_cores") or 0.0 for s in data.get("steps", [])]


def _side_by_side(data: Any) -> tuple[Figures, list[float]]:
    figures: Figures = {}
    for name, ratio in data["summary"]["ratios"].items():
        figures[name] = ratio["median"]
    foreign = [row[1].get("foreign_cores") or 0.0 for row in data["rows"]]
    return figures, foreign


def _mock(data: Any) -> tuple[Figures, list[float]]:
    figures: Figures = {
        f"{row['case']} @ {row['conns']} conns: per mock CPU-s": row["per mock CPU-s"] for row in data
    }
    # The box's busy cores include the mock's own and wrk's (about 1 each when saturated).
    return figures, [max(float(row["box busy cores"]) - 2.0, 0.0) for row in data]


def _report_1m(data: Any) -> tuple[Figures, list[float]]:
    return {
        "1M records: report build s": data["build_report_s"],
        "1M records: peak RSS GiB": data["peak_rss_gib"],
    }, []


def _command(name: str, out: Path) -> list[str]:
    commands = {
        "accuracy": [PY, str(HERE / "truth_sweep.py"), "--levels", "1,64,256,512", "--json", str(out)],
        "calibrate": [PY, "-m", "bench", "calibrate", "--json", str(out)],
        "side_by_side": [PY, str(HERE / "aiohttp_reference.py"), "--search", "64:1024", "--repeat", "1",
                         "--loop", "closed", "--clients", "chatbench,aiohttp-uvloop", "--json", str(out)],
        "side_by_side_open": [PY, str(HERE / "aiohttp_reference.py"), "--search", "64:1024", "--repeat", "1",
                              "--loop", "open", "--clients", "chatbench,aiohttp-uvloop", "--json", str(out)],
        "mock": [PY, str(HERE / "mock_capacity.py"), "--quick", "--json", str(out)],
        "report_1m": [PY, str(HERE / "report_1m.py"), "--json", str(out)],
    }  # fmt: skip
    return commands[name]


EXTRACT: dict[str, Callable[[Any], tuple[Figures, list[float]]]] = {
    "accuracy": _accuracy,
    "calibrate": _calibrate,
    "side_by_side": _side_by_side,
    "side_by_side_open": _side_by_side,
    "mock": _mock,
    "report_1m": _report_1m,
}


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each benchmark (default 3)")
    parser.add_argument(
        "--only", default=",".join(EXTRACT), help=f"comma-separated, from {', '.join(EXTRACT)}"
    )
    parser.add_argument("--json", type=Path, help="also write every figure of every run here")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in EXTRACT]
    if unknown:
        parser.error(f"unknown figure group {unknown[0]!r}; choose from {', '.join(EXTRACT)}")
    runs: dict[str, list[Figures]] = {n: [] for n in names}
    foreign: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="chatbench-reproduce-") as tmp:
        for r in range(args.repeat):
            for name in names:
                out = Path(tmp) / f"{name}-{r}.json"
                print(f"# run {r + 1}/{args.repeat}: {name}", flush=True)
                done = subprocess.run(
                    _command(name, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                )
                if done.returncode != 0 or not out.exists():
                    last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                    print(f"#   {name} failed (exit {done.returncode}): {last}", flush=True)
                    continue
                figures, other = EXTRACT[name](json.loads(out.read_text()))
                runs[name].append(figures)
                foreign[name] += other
    print()
    print("| figure | min | median | max | runs | other load seen (cores) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        keys = list(dict.fromkeys(k for figures in runs[name] for k in figures))
        other = foreign[name]
        seen = f"{min(other):.2f}-{max(other):.2f}" if other else "-"
        for key in keys:
            values = [f[key] for f in runs[name] if f.get(key) is not None]
            if not values:
                print(f"| {name}: {key} | - | - | - | 0 | {seen} |")
                continue
            lo, mid, hi = min(values), statistics.median(values), max(values)  # type: ignore[type-var]
            print(f"| {name}: {key} | {_fmt(lo)} | {_fmt(mid)} | {_fmt(hi)} | {len(values)} | {seen} |")  # type: ignore[arg-type]
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "other_load": foreign}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
