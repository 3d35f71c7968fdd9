"""Hand-built records with known timings, and results directories made of them (no load run needed)."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from bench.records import Record

T0 = 1_700_000_000.0  # wall-clock start of every synthetic run


def make_record(
    n: int = 0,
    *,
    at_s: float = 0.0,
    ttft_ms: float | None = 100.0,
    itl_ms: Sequence[float] = (10.0, 10.0),
    e2e_ms: float | None = None,
    output_tokens: int | None = None,
    stream: bool = True,
    error_kind: str | None = None,
    status: int = 200,
    **overrides: Any,
) -> Record:
    """One record sent ``at_s`` seconds after T0. By default a stream of 3 chunks: TTFT 100, gaps 10, 10.

    ``e2e_ms`` defaults to TTFT + the gaps; ``output_tokens`` to the number of chunks.
    """
    gaps = array("d", itl_ms)
    if not stream:
        ttft_ms, gaps = None, array("d")
    chunks = len(gaps) + 1 if (ttft_ms is not None or not stream) else 0
    if e2e_ms is None:
        e2e_ms = (ttft_ms or 0.0) + sum(gaps) if stream else 50.0
    if output_tokens is None and error_kind is None:
        output_tokens = chunks
    record = Record(
        run_id="test-run",
        worker="local",
        user=0,
        request_id=f"r{n}",
        scenario="unit",
        prompt_set="set-a",
        prompt_id=f"p{n}",
        turn=0,
        step=0,
        stream=stream,
        temperature=0.7,
        top_p=None,
        presence_penalty=None,
        frequency_penalty=None,
        max_tokens=None,
        scheduled_at_s=None,
        started_at_s=T0 + at_s,
        start_mono_s=1000.0 + at_s,
        client_lag_ms=None,
        ttft_ms=ttft_ms,
        itl_ms=gaps,
        e2e_ms=e2e_ms,
        prompt_tokens=20,
        output_tokens=output_tokens,
        token_source="usage",
        chunks=chunks,
        finish_reason="stop" if error_kind is None else None,
        status=status,
        error_kind=error_kind,  # type: ignore[arg-type]
        error_message=None,
    )
    return replace(record, **overrides) if overrides else record


def make_error(
    n: int = 0, *, at_s: float = 0.0, kind: str = "http_error", status: int = 503, **kw: Any
) -> Record:
    """A failed request: no first token, no tokens."""
    kw.setdefault("error_message", f"HTTP {status}")
    return make_record(
        n, at_s=at_s, ttft_ms=None, itl_ms=(), e2e_ms=5.0, error_kind=kind, status=status, chunks=0, **kw
    )


def write_run(
    run_dir: Path,
    records: Iterable[Record],
    *,
    scenario: dict[str, Any] | None = None,
    run_info: dict[str, Any] | None = None,
    parquet: bool = False,
    monitor: Sequence[dict[str, Any]] = (),
) -> Path:
    """A results directory as the load side leaves it: records (JSONL or Parquet), scenario.json, run.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    records = list(records)
    (run_dir / "scenario.json").write_text(json.dumps(scenario or {"name": "unit", "slo": {}}))
    (run_dir / "run.json").write_text(json.dumps(run_info or {"run_id": "test-run", "started_at_s": T0}))
    if parquet:
        write_parquet(run_dir / "records.parquet", records)
    else:
        (run_dir / "records").mkdir(exist_ok=True)
        (run_dir / "records" / "local.jsonl").write_bytes(b"".join(r.to_json() + b"\n" for r in records))
    if monitor:
        (run_dir / "monitor").mkdir(exist_ok=True)
        lines = "".join(json.dumps(m) + "\n" for m in monitor)
        (run_dir / "monitor" / "local.jsonl").write_text(lines)
    return run_dir


def write_parquet(path: Path, records: Sequence[Record]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[Any]] = {f.name: [getattr(r, f.name) for r in records] for f in fields(Record)}
    columns["itl_ms"] = [list(gaps) for gaps in columns["itl_ms"]]
    columns["chunk_tokens"] = [None if c is None else list(c) for c in columns["chunk_tokens"]]
    table = pa.table(columns) if records else pa.table({name: pa.array([]) for name in columns})
    pq.write_table(table, path)
