"""Synthetic records with known timings, written as a results directory (the record contract only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.records import Record
from tests.analysis.factory import make_record


def record(
    i: int,
    *,
    ttft_ms: float | None = 50.0,
    tpot_ms: float = 10.0,
    output_tokens: int = 11,
    error_kind: str | None = None,
    step: int = 0,
    started_at_s: float | None = None,
    stream: bool = True,
    worker: str = "local",
) -> Record:
    """One record sent ``started_at_s`` (default ``i * 0.1``) seconds after T0: ``output_tokens`` tokens,
    one per chunk, ``tpot_ms`` apart after ``ttft_ms``; a failed one (``error_kind``) took 5 ms."""
    at_s = i * 0.1 if started_at_s is None else started_at_s
    common = {
        "at_s": at_s,
        "stream": stream,
        "step": step,
        "worker": worker,
        "user": i % 4,
        "scenario": "synthetic",
    }
    if error_kind is not None:
        return make_record(
            i,
            ttft_ms=None,
            itl_ms=(),
            e2e_ms=5.0,
            error_kind=error_kind,
            status=500,
            output_tokens=None,
            **common,
        )
    return make_record(
        i, ttft_ms=ttft_ms, itl_ms=[tpot_ms] * (output_tokens - 1), output_tokens=output_tokens, **common
    )


def drawn(
    n: int,
    *,
    seed: int,
    ttft_median_ms: float = 80.0,
    tpot_mean_ms: float = 12.0,
    start: float = 0.0,
    spacing_s: float = 0.05,
    step: int = 0,
) -> list[Record]:
    """``n`` records with lognormal TTFT and normal TPOT from a seeded generator."""
    rng = np.random.default_rng(seed)
    ttft = rng.lognormal(np.log(ttft_median_ms), 0.3, n)
    tpot = np.clip(rng.normal(tpot_mean_ms, tpot_mean_ms * 0.1, n), 1.0, None)
    tokens = rng.integers(20, 60, n)
    return [
        record(
            i,
            ttft_ms=float(ttft[i]),
            tpot_ms=float(tpot[i]),
            output_tokens=int(tokens[i]),
            started_at_s=start + i * spacing_s,
            step=step,
        )
        for i in range(n)
    ]


def write_run(
    run_dir: Path,
    records: Iterable[Record],
    *,
    name: str = "synthetic",
    slo: dict[str, Any] | None = None,
    workers: Sequence[str] = ("local",),
) -> Path:
    """A results directory: ``records/<worker>.jsonl`` (records dealt round-robin) and ``scenario.json``."""
    (run_dir / "records").mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[bytes]] = {w: [] for w in workers}
    for i, rec in enumerate(records):
        lines[workers[i % len(workers)]].append(rec.to_json())
    for worker, chunk in lines.items():
        (run_dir / "records" / f"{worker}.jsonl").write_bytes(b"\n".join(chunk) + b"\n")
    (run_dir / "scenario.json").write_bytes(orjson.dumps({"name": name, "slo": slo or {}}))
    return run_dir


def closed_loop_step(
    users: int, *, slots: int, service_ms: float = 200.0, duration_s: float = 6.0, step: int = 0
) -> list[Record]:
    """Records of ``users`` back-to-back users against a server with ``slots`` parallel slots.

    Each answer takes ``service_ms`` once served; with more users than slots the extra wait goes into TTFT,
    so throughput is min(users, slots) / service and latency grows past the knee (Little's law).
    """
    e2e_ms = service_ms * max(1.0, users / slots)
    wait_ms = e2e_ms - service_ms
    out: list[Record] = []
    n = 0
    for u in range(users):
        t = u * 0.01
        while t + e2e_ms / 1000 <= duration_s:
            out.append(
                record(
                    n,
                    ttft_ms=20.0 + wait_ms,
                    tpot_ms=(service_ms - 20.0) / 15,
                    output_tokens=16,
                    started_at_s=t,
                    step=step,
                )
            )
            n += 1
            t += e2e_ms / 1000
    return out


def write_capacity_dir(
    root: Path,
    levels: Sequence[int],
    *,
    slots: int,
    slo: dict[str, Any],
    planning: dict[str, Any] | None = None,
    step_s: float = 5.0,
) -> Path:
    """A capacity directory as ``chatbench capacity`` leaves it: sweep.json and one step-<i>/ per level
    of ``step_s`` seconds after a 1 s warm-up."""
    root.mkdir(parents=True, exist_ok=True)
    thresholds = [
        {"metric": m, "stat": s, "limit": float(v)}
        for m, stats in slo.items()
        if m != "error_rate"
        for s, v in stats.items()
    ]
    meta = {
        "scenario": "synthetic",
        "planning": planning,
        "sweep": {"mode": "concurrency", "levels": list(levels), "step_duration_s": step_s, "warmup_s": 1.0},
        "slo": {"thresholds": thresholds, "error_rate": slo.get("error_rate")},
    }
    (root / "sweep.json").write_bytes(orjson.dumps(meta))
    for i, users in enumerate(levels):
        write_run(root / f"step-{i}", closed_loop_step(users, slots=slots, step=i, duration_s=1.0 + step_s))
    return root
