"""What scraping the server's /metrics at 1 Hz costs: load-generator CPU per request with and without it.

Runs the same closed-loop load against the embedded mock (``chatbench run`` machinery, ``run_load``),
alternating scraping on and off, ``--repeat`` times each, and prints per run:

- Locust's CPU per request (ms): the load generator's own CPU seconds (its ``monitor/*.jsonl``, one
  sample a second of user + system time) / requests recorded;
- the scraper's CPU per request and per scrape (ms): ``server_metrics.json``'s ``scraper_cpu_s`` (the
  scraper is its own process: this is the whole cost of scraping on the client side);
- all of chatbench's children per request (ms): Locust + mock + scraper, from ``RUSAGE_CHILDREN``;
- the machine's busy cores during the run (everything, ours included), since the machine may be shared.

    .venv/bin/python benchmarks/scrape_cost.py --users 32 --duration 20 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.instrument.cpu import CpuMeter
from bench.load.runner import run_load

SCENARIO: dict[str, Any] = {
    "name": "scrape-cost",
    "seed": 1,
    "target": {"base_url": None, "profile": "openai"},
    "mock": {
        "batch_slots": 256,
        "prefill_base_ms": 20,
        "tpot_ms": 5,
        "output_dist": "fixed",
        "output_tokens": 32,
    },
    "prompt_sets": [{"name": "p", "inline": ["Say something about load tests.", "请介绍一下你自己"]}],
    "sampling": {"temperature": 0.7, "stream": True, "max_tokens": 64},
}


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_run(tmp: Path, users: int, duration_s: float, scrape: bool) -> dict[str, Any]:
    data = dict(SCENARIO, load={"users": users, "spawn_rate": users, "duration_s": duration_s})
    data["server_metrics"] = {"enabled": scrape, "interval_s": 1.0}
    path = tmp / f"scrape-{scrape}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    meter = CpuMeter(lambda: (), lambda: ())
    cpu0 = _children_cpu_s()
    meter.start()
    outcome = run_load(path, results_dir=tmp / "results", progress=False)
    usage = meter.stop()
    children = _children_cpu_s() - cpu0
    monitor = [
        orjson.loads(x)
        for p in (outcome.run_dir / "monitor").glob("*.jsonl")
        for x in p.read_bytes().splitlines()
    ]
    locust_cpu_s = sum(m["cpu_pct"] for m in monitor) / 100.0  # one sample per second of the run
    status_path = outcome.run_dir / "server_metrics.json"
    status = json.loads(status_path.read_text()) if status_path.is_file() else {}
    requests = max(outcome.records, 1)
    scraper_s = status.get("scraper_cpu_s")
    return {
        "scrape": scrape,
        "requests": outcome.records,
        "errors": outcome.errors,
        "locust_ms_per_request": 1000.0 * locust_cpu_s / requests,
        "scraper_ms_per_request": None if scraper_s is None else 1000.0 * scraper_s / requests,
        "scraper_ms_per_scrape": None
        if scraper_s is None
        else 1000.0 * scraper_s / max(status.get("scrapes", 1), 1),
        "scrapes": status.get("scrapes"),
        "children_ms_per_request": 1000.0 * children / requests,
        "busy_cores": usage.busy_cores,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scrape-cost-") as tmp:
        for i in range(args.repeat):
            for scrape in (True, False) if i % 2 == 0 else (False, True):
                row = one_run(Path(tmp), args.users, args.duration, scrape)
                rows.append(row)
                print(
                    f"scrape {'on ' if scrape else 'off'}: {row['requests']:>6} requests, Locust "
                    f"{row['locust_ms_per_request']:.3f} ms CPU/request, scraper "
                    + ("-" if row["scraper_ms_per_request"] is None else
                       f"{row['scraper_ms_per_request']:.4f} ms/request ({row['scraper_ms_per_scrape']:.2f} ms/scrape, "
                       f"{row['scrapes']} scrapes)")
                    + f", all children {row['children_ms_per_request']:.3f} ms/request, busy cores {row['busy_cores']:.2f}",
                    flush=True,
                )  # fmt: skip
    for scrape in (True, False):
        part = [r for r in rows if r["scrape"] is scrape]
        med = statistics.median(r["locust_ms_per_request"] for r in part)
        print(
            f"median Locust CPU/request, scraping {'on ' if scrape else 'off'}: {med:.3f} ms (of {len(part)} runs)"
        )
    on = [
        r["scraper_ms_per_request"] for r in rows if r["scrape"] and r["scraper_ms_per_request"] is not None
    ]
    if on:
        print(f"median scraper CPU/request: {statistics.median(on):.4f} ms")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
