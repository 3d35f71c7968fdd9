"""Merge the per-process record files of a run into ``records.parquet`` (pyarrow; no gevent, no pandas),
and finish the run (``finish_run``).

``records/<worker>.jsonl`` files are read line by line; a line cut short by a killed process is
skipped (and counted). ``itl_ms`` stays a ``list<double>`` column. The column order is
``bench.records.RECORD_COLUMNS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.load.rundir import finish_run_json
from bench.records import RECORD_COLUMNS, read_jsonl

__all__ = ["RECORDS_SCHEMA", "MergeResult", "finish_run", "merge_records"]

_TYPES: dict[str, pa.DataType] = {
    "user": pa.int32(),
    "turn": pa.int32(),
    "step": pa.int32(),
    "stream": pa.bool_(),
    "temperature": pa.float64(),
    "top_p": pa.float64(),
    "presence_penalty": pa.float64(),
    "frequency_penalty": pa.float64(),
    "max_tokens": pa.int64(),
    "scheduled_at_s": pa.float64(),
    "started_at_s": pa.float64(),
    "start_mono_s": pa.float64(),
    "client_lag_ms": pa.float64(),
    "ttft_ms": pa.float64(),
    "itl_ms": pa.list_(pa.float64()),
    "e2e_ms": pa.float64(),
    "prompt_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "chunks": pa.int32(),
    "status": pa.int32(),
    "lg_cpu_pct": pa.float64(),
    "attempts": pa.int32(),
    "resend_at_ms": pa.float64(),
    "connect_ms": pa.float64(),
    "retry_after_s": pa.float64(),
    "ttfo_ms": pa.float64(),
    "cached_tokens": pa.int64(),
    "reasoning_tokens": pa.int64(),
    "reasoning_ms": pa.float64(),
    "chunk_tokens": pa.list_(pa.int32()),
}
RECORDS_SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in RECORD_COLUMNS])
"""The Parquet schema of ``records.parquet`` (strings for every column not listed in ``_TYPES``)."""


@dataclass(frozen=True)
class MergeResult:
    path: Path
    records: int
    errors: int  # records with an error kind (client_cancelled aside: the scenario cancelled them on purpose)
    skipped_lines: int  # lines that were not valid JSON (cut by a killed process)


def merge_records(run_dir: str | Path) -> MergeResult:
    """Write ``run_dir/records.parquet`` from ``run_dir/records/*.jsonl``; returns the counts."""
    run_dir = Path(run_dir)
    rows, skipped = read_jsonl(sorted((run_dir / "records").glob("*.jsonl")))
    columns: dict[str, list[Any]] = {name: [row.get(name) for row in rows] for name in RECORD_COLUMNS}
    table = pa.table(
        {name: pa.array(columns[name], type=RECORDS_SCHEMA.field(name).type) for name in RECORD_COLUMNS}
    )
    out = run_dir / "records.parquet"
    pq.write_table(table, out)
    errors = sum(1 for kind in columns["error_kind"] if kind is not None and kind != "client_cancelled")
    return MergeResult(out, table.num_rows, errors, skipped)


def finish_run(run_dir: str | Path, **fields: Any) -> MergeResult:
    """The end of every run: merge the records, then add the counts, the end time and ``fields`` to
    ``run.json``. The run's master (or local runner) calls it when Locust quits; ``run_load`` calls it
    only when the Locust process could not (it was killed)."""
    merged = merge_records(run_dir)
    finish_run_json(Path(run_dir), records=merged.records, errors=merged.errors, **fields)
    return merged
