"""What the dashboard's live view costs: load-generator CPU per request with it on and off, side by side,
and the master's CPU for the live aggregation at a given record rate.

    .venv/bin/python benchmarks/live_aggregation.py --streams 256 --duration 15 --repeat 2
    .venv/bin/python benchmarks/live_aggregation.py --master-only --rate 20000
    .venv/bin/python benchmarks/live_aggregation.py --sketches

1. **On and off in one run.** Plain ``locust -f bench/load/locustfile.py`` with its web UI against the
   embedded mock (256 batch slots, 20 ms per token, 64 tokens, every request streamed), ``--streams``
   closed-loop users without think time. Each test is started with ``POST /swarm`` and, as a browser
   would, ``/stats/requests`` is fetched every 2 s. Off is ``CHATBENCH_LIVE=0`` (Locust's UI alone); on
   is the LLM tab. Modes alternate (off, on, off, on...) so a busy machine hurts both alike. CPU is the
   Locust process's own (user + system, psutil; the mock is another process) from the start to the
   stop of the test, divided by the records it wrote.
2. **The master at a record rate.** Synthetic records (half streamed, 2-64 chunk gaps, two prompt sets,
   3 % errors) at ``--rate`` records per simulated second, published on a record hub in batches as two
   workers send them, read by ``bench.live.subscribe`` as record views and fed to ``LiveStats``, folded
   once a second and read (every tab figure) every 2 s, as the master does; CPU seconds per simulated
   second = % of a core (the hub's own receiving and writing are not counted: they happen without the
   live view too). Side by side, alternating ``--repeat`` times: the batches read as full ``Record``
   objects, as the live view did before ``bench.live.views``.
3. **Sketches** (``--sketches``): ddsketch and hdrhistogram, add cost and worst relative error.

The machine is shared: the other load seen (busy cores minus this benchmark's) is printed beside each run.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.instrument.cpu import busy_cpu_s
from bench.load.runner import LOCUSTFILE
from tests.analysis.factory import T0, make_error, make_record
from tests.load.helpers import free_port


def _scenario(tmp: Path, streams: int, duration_s: float) -> Path:
    data = {
        "name": "live-bench",
        "seed": 1,
        "target": {"base_url": None, "profile": "openai"},
        "mock": {
            "profile": "openai",
            "prefill_base_ms": 50,
            "prefill_per_token_ms": 0,
            "tpot_ms": 20,
            "batch_slowdown": 0,
            "batch_slots": max(256, streams),
            "output_dist": "fixed",
            "output_tokens": 64,
        },
        "prompt_sets": [
            {"name": "a", "weight": 1, "inline": ["Say something about load tests."]},
            {"name": "b", "weight": 1, "inline": ["请介绍一下你自己"]},
        ],
        "sampling": {"temperature": 0.5, "stream": True},
        "load": {"users": streams, "spawn_rate": streams, "duration_s": duration_s, "think_time_s": 0},
        "slo": {"ttft_ms": {"p95": 1000}, "tpot_ms": {"p99": 100}, "error_rate": 0.01},
    }
    path = tmp / "live-bench.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


def one_test(scenario: Path, results: Path, live: bool) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "CHATBENCH_LIVE": "1" if live else "0"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--scenario",
            str(scenario),
            "--results-dir",
            str(results),
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(port),
            "--loglevel",
            "ERROR",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/stats/requests", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        me = psutil.Process(proc.pid)
        t0 = me.cpu_times()
        busy0, wall0 = busy_cpu_s(), time.perf_counter()
        httpx.post(url + "/swarm", timeout=5)
        state = "spawning"
        while state != "stopped":
            time.sleep(2.0)
            body = httpx.get(url + "/stats/requests", timeout=10).json()
            state = body["state"]
            if live:
                assert body.get("extended_stats"), "the LLM tab's rows are missing"
        t1 = me.cpu_times()
        wall = time.perf_counter() - wall0
        busy = (busy_cpu_s() - busy0) / wall
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    records = sum(1 for _ in (run_dir / "records" / "local.jsonl").open("rb"))
    cpu = (t1.user + t1.system) - (t0.user + t0.system)
    return {
        "records": records,
        "cpu_s": cpu,
        "cpu_ms_per_request": 1000 * cpu / records,
        "cpu_pct": 100 * cpu / wall,
        "other_cores": busy - cpu / wall,
    }


def side_by_side(streams: int, duration_s: float, repeat: int) -> None:
    print(f"live view on/off, {streams} streams, {duration_s:g} s tests, {repeat} pair(s), alternating")
    print(f"{'mode':5} {'records':>8} {'CPU ms/request':>15} {'CPU % core':>11} {'other load (cores)':>19}")
    per: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="live-bench-") as tmp:
        scenario = _scenario(Path(tmp), streams, duration_s)
        for i in range(repeat):
            for live in (False, True):
                results = Path(tmp) / f"r{i}-{int(live)}"
                row = one_test(scenario, results, live)
                per[live].append(row["cpu_ms_per_request"])
                print(
                    f"{'on' if live else 'off':5} {row['records']:>8,} {row['cpu_ms_per_request']:>15.3f} "
                    f"{row['cpu_pct']:>11.1f} {row['other_cores']:>19.2f}",
                    flush=True,
                )
    off, on = statistics.median(per[False]), statistics.median(per[True])
    print(f"median CPU per request: off {off:.3f} ms, on {on:.3f} ms, cost {100 * (on - off) / off:+.1f} %")


def synthetic(n: int, rate: float, seed: int = 1) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = i / rate
        if rng.random() < 0.03:
            out.append(make_error(i, at_s=at, status=rng.choice((429, 500, 503))))
            continue
        stream = rng.random() < 0.5
        gaps = [rng.lognormvariate(2.9, 0.3) for _ in range(rng.randint(2, 64))]
        out.append(
            make_record(
                i,
                at_s=at,
                ttft_ms=rng.lognormvariate(4, 0.4),
                itl_ms=gaps,
                stream=stream,
                prompt_set="a" if i % 2 else "b",
                lg_cpu_pct=30.0,
            )
        )
    return out


def master(rate: float, seconds: int, *, objects: bool = False) -> float:
    """The master's side: batches as the record hub publishes them (two workers, one every 0.5 s each),
    through ``bench.live.subscribe``'s record views (``objects``: full ``Record`` objects instead, what
    the live view read before), into ``LiveStats``; fold every second. Returns % of a core."""
    from types import SimpleNamespace

    from bench.live import subscribe
    from bench.live.aggregate import LiveSlo, LiveStats
    from bench.load.batch import BatchBuilder
    from bench.load.hub import record_hub

    records = synthetic(int(rate * seconds), rate)
    per_batch = max(1, int(rate / 4))  # two workers x two batches a second
    batches = []
    for k in range(0, len(records), per_batch):
        builder = BatchBuilder()
        for r in records[k : k + per_batch]:
            builder.add(r)
        batches.append(builder.take())
    clock = [T0]
    stats = LiveStats(
        prompt_sets=["a", "b"],
        slo=LiveSlo((("ttft_ms", "p95", 500.0), ("tpot_ms", "p99", 50.0)), 0.01),
        started_at_s=T0,
        clock=lambda: clock[0],
    )
    environment = SimpleNamespace()  # the hub hangs off the Locust Environment; any object will do here
    hub = record_hub(environment)
    if objects:
        hub.subscribe(lambda batch: [stats.add(r) for r in batch.records()])
    else:
        subscribe(environment, stats.add)
    gaps = sum(len(r.itl_ms) for r in records)
    cpu0 = time.process_time()
    for s in range(seconds):
        for batch in batches[s * 4 : (s + 1) * 4]:
            hub.publish(batch)
        clock[0] = T0 + s + 1
        stats.fold()
        if s % 2 == 1:  # what one open tab reads every 2 s
            for g in stats.groups:
                stats.view(g, window=True)
                stats.view(g, window=False)
    cpu = time.process_time() - cpu0
    assert stats.records == len(records)
    how = "Record objects (before)" if objects else "record views"
    print(
        f"master live aggregation, {how}: {rate:,.0f} records/s ({gaps / seconds:,.0f} chunk gaps/s) in "
        f"record-hub batches for {seconds} s simulated: {cpu:.2f} CPU s = {100 * cpu / seconds:.1f} % of a core"
    )
    return 100 * cpu / seconds


def sketches() -> None:
    import numpy as np
    from ddsketch import DDSketch
    from hdrh.histogram import HdrHistogram

    rng = np.random.default_rng(1)
    values = np.concatenate(
        [rng.lognormal(3.5, 0.6, 50_000), rng.lognormal(7, 0.8, 50_000), rng.exponential(20, 50_000) + 0.01]
    )
    rng.shuffle(values)
    as_list = values.tolist()
    cases = {
        "ddsketch a=0.5%": (
            lambda: DDSketch(0.005),
            lambda s, v: s.add(v),
            lambda s, q: s.get_quantile_value(q),
        ),
        "ddsketch a=1%": (
            lambda: DDSketch(0.01),
            lambda s, v: s.add(v),
            lambda s, q: s.get_quantile_value(q),
        ),
        "hdrhistogram 2 digits (us)": (
            lambda: HdrHistogram(1, 3_600_000_000, 2),
            lambda s, v: s.record_value(int(v * 1000)),
            lambda s, q: s.get_value_at_percentile(q * 100) / 1000,
        ),
        "hdrhistogram 3 digits (us)": (
            lambda: HdrHistogram(1, 3_600_000_000, 3),
            lambda s, v: s.record_value(int(v * 1000)),
            lambda s, q: s.get_value_at_percentile(q * 100) / 1000,
        ),
    }
    for name, (make, add, quantile) in cases.items():
        sk = make()
        t = time.perf_counter()
        for v in as_list:
            add(sk, v)
        per_add = (time.perf_counter() - t) / len(as_list) * 1e6
        worst = 0.0
        for p in (1, 5, 25, 50, 75, 90, 95, 99, 99.9):
            lo, hi = np.percentile(values, p, method="lower"), np.percentile(values, p, method="higher")
            got = quantile(sk, p / 100)
            err = 0.0 if lo <= got <= hi else min(abs(got - lo) / lo, abs(got - hi) / hi)
            worst = max(worst, err)
        print(
            f"{name:28} {per_add:5.2f} us per add, worst relative error {100 * worst:.3f} % (to the rank's value)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--seconds", type=int, default=10, help="simulated seconds of the master benchmark")
    parser.add_argument("--master-only", action="store_true")
    parser.add_argument("--sketches", action="store_true")
    args = parser.parse_args()
    if args.sketches:
        sketches()
        return
    if not args.master_only:
        side_by_side(args.streams, args.duration, args.repeat)
    # side by side in one run, alternating: the batch read as full Record objects, and as views
    busy0, wall0, own0 = busy_cpu_s(), time.perf_counter(), time.process_time()
    for _ in range(args.repeat):
        master(args.rate, args.seconds, objects=True)
        master(args.rate, args.seconds)
    wall = time.perf_counter() - wall0
    other = (busy_cpu_s() - busy0 - (time.process_time() - own0)) / wall
    print(f"other load seen meanwhile: {other:.2f} busy cores besides this benchmark")


if __name__ == "__main__":
    main()
