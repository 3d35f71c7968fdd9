"""Write the sample traces in scenarios/traces/ from documented distributions (no real trace is copied).

    python scripts/make_traces.py            # rewrites scenarios/traces/*, the same bytes every time

Each sample is about 12 seconds of traffic at the rate below, small enough for a test run against
the mock, with lengths drawn (seeded) from the shape each source publishes:

- mooncake-sample.jsonl: Mooncake's trace format (Qin et al., "Mooncake", FAST'25: ``timestamp``
  in ms, ``input_length``, ``output_length``, ``hash_ids`` with one id per 512-token block). Poisson
  arrivals at 6 req/s; input lognormal (median 1,200 tokens, sigma 0.6) of which a shared system
  prefix of 1-3 blocks from one of 4 "apps" (ids 0-11, Zipf-weighted), the rest unique blocks;
  output lognormal (median 40, sigma 0.5). Mooncake's own trace averages 7,590 input and 182
  output tokens; the sample is scaled down so a mock run stays short.
- azure-sample.csv: the Azure LLM inference trace 2023 columns (``TIMESTAMP`` as a date-time with
  7 fractional digits, ``ContextTokens``, ``GeneratedTokens``). Bursty arrivals: gamma gaps with
  shape 0.5 at 5 req/s; context lognormal (median 1,000, sigma 0.9), generated lognormal
  (median 30, sigma 0.7) (the published conversation trace has medians near 1,020 and 129).
- burstgpt-sample.csv: BurstGPT's columns (Wang et al., 2024: ``Timestamp`` seconds, ``Model``,
  ``Request tokens``, ``Response tokens``, ``Total tokens``, ``Log Type``). Arrivals in bursts
  (a 2-state on/off process: 10 req/s for ~1.5 s, 1 req/s for ~2 s); request tokens Zipf-like
  (Pareto, alpha 1.5, from 50), response lognormal (median 35); 3% failed requests with 0
  response tokens, as BurstGPT logs them.
- chatbench-sample.jsonl: chatbench's own form (``t_s``, ``messages`` or ``prompt_tokens``,
  ``max_tokens``); constant 4 req/s, every third row with literal messages.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "scenarios" / "traces"
SPAN_S = 12.0


def _lognormal(rng: random.Random, median: float, sigma: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, round(median * math.exp(rng.gauss(0.0, sigma)))))


def mooncake(rng: random.Random) -> list[str]:
    lines, t, next_id = [], 0.0, 12
    apps = [(i, rng.randint(1, 3)) for i in range(4)]  # (app, shared prefix blocks)
    while t < SPAN_S:
        app, shared = rng.choices(apps, weights=[1 / (k + 1) for k in range(len(apps))])[0]
        input_length = _lognormal(rng, 1200, 0.6, shared * 512 + 1, 6000)
        blocks = math.ceil(input_length / 512)
        hash_ids = [app * 3 + b for b in range(shared)]  # ids 0..11: the apps' shared prefixes
        for _ in range(blocks - shared):
            hash_ids.append(next_id)
            next_id += 1
        row = {
            "timestamp": round(t * 1000),
            "input_length": input_length,
            "output_length": _lognormal(rng, 40, 0.5, 1, 400),
            "hash_ids": hash_ids,
        }
        lines.append(json.dumps(row))
        t += rng.expovariate(6.0)
    return lines


def azure(rng: random.Random) -> list[str]:
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    start = datetime(2023, 11, 16, 18, 15, 46)
    t = 0.0
    while t < SPAN_S:
        stamp = (start + timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S.%f") + "0"
        lines.append(f"{stamp},{_lognormal(rng, 1000, 0.9, 1, 8000)},{_lognormal(rng, 30, 0.7, 1, 400)}")
        t += rng.gammavariate(0.5, 1.0 / (5.0 * 0.5))
    return lines


def burstgpt(rng: random.Random) -> list[str]:
    lines = ["Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"]
    t, on, switch = 0.0, True, rng.expovariate(1 / 1.5)
    while t < SPAN_S:
        request = min(6000, round(50 * rng.paretovariate(1.5)))
        response = 0 if rng.random() < 0.03 else _lognormal(rng, 35, 0.6, 1, 400)
        model = rng.choices(["ChatGPT", "GPT-4"], weights=[4, 1])[0]
        log = rng.choice(["Conversation log", "API log"])
        lines.append(f"{t:.3f},{model},{request},{response},{request + response},{log}")
        t += rng.expovariate(10.0 if on else 1.0)
        if t > switch:
            on = not on
            switch = t + rng.expovariate(1 / (1.5 if on else 2.0))
    return lines


def chatbench(rng: random.Random) -> list[str]:
    lines, t, n = [], 0.0, 0
    questions = [
        "Summarise the last reply in one line.",
        "What does a load test measure?",
        "请用一句话介绍你自己",
    ]
    while t < SPAN_S:
        row: dict[str, object] = {"t_s": round(t, 3)}
        if n % 3 == 0:
            row["messages"] = [
                {"role": "system", "content": "You are a concise assistant."},
                {"role": "user", "content": questions[(n // 3) % len(questions)]},
            ]
        else:
            row["prompt_tokens"] = _lognormal(rng, 300, 0.5, 1, 4000)
        row["max_tokens"] = _lognormal(rng, 30, 0.5, 1, 300)
        lines.append(json.dumps(row, ensure_ascii=False))
        t += 0.25
        n += 1
    return lines


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make, ext in (
        ("mooncake-sample", mooncake, "jsonl"),
        ("azure-sample", azure, "csv"),
        ("burstgpt-sample", burstgpt, "csv"),
        ("chatbench-sample", chatbench, "jsonl"),
    ):
        lines = make(random.Random(f"chatbench:{name}"))
        (OUT / f"{name}.{ext}").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{OUT / f'{name}.{ext}'}: {len(lines)} lines")


if __name__ == "__main__":
    main()
