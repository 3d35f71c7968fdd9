"""Load the records of a results directory into one pandas frame plus a flat array of chunk gaps.

A finished run has ``records.parquet``; a run that was killed (or is still going) has only
``records/<worker>.jsonl``, whose last line may be cut in the middle: such lines are skipped and
counted, never fatal.

``itl_ms`` is a list per request. Keeping it as a column of Python lists would cost a Python object
per request and a loop per row; instead the gaps of all requests are one float64 array
(``itl_values``) and request ``i`` owns ``itl_values[itl_offsets[i]:itl_offsets[i + 1]]``, the layout
Arrow itself uses, taken from Parquet without copying row by row.

Derived columns (all relative to the run start ``t0_s``, in seconds):

- ``start_s`` = ``started_at_s`` - ``t0_s``: when the request was sent;
- ``end_s`` = ``start_s`` + ``e2e_ms`` / 1000: when the answer (or the failure) was seen; a record
  without ``e2e_ms`` ends when it started;
- ``ok``: the request succeeded (no ``error_kind``);
- one column per *derived* metric of ``bench.metrics`` (a metric that is not a record field), named
  after it, holding its request value (NaN where it is not defined): ``tpot_ms``, formula in
  ``bench/metrics/tpot.py``;
- ``itl_count``, ``itl_max_ms``: number of chunk gaps of the request, and the largest one (NaN when none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from bench import metrics
from bench.errors import ResultsError
from bench.records import Record, read_jsonl

__all__ = [
    "RecordFrame",
    "frame_from_records",
    "load_json",
    "load_records",
]

# Columns the analysis reads; the others (request_id, prompt_id, run_id...) are not loaded at all.
FLOAT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            "temperature",
            "top_p",
            "presence_penalty",
            "frequency_penalty",
            "max_tokens",
            "scheduled_at_s",
            "started_at_s",
            "client_lag_ms",
            "ttft_ms",
            "e2e_ms",
            "prompt_tokens",
            "output_tokens",
            "lg_cpu_pct",
            "cached_tokens",
            "reasoning_tokens",
            "reasoning_ms",
            *(f for m in metrics.all_metrics() for f in m.fields),  # the Record fields the metrics read
        )
    )
)
INT_COLUMNS = ("user", "turn", "step", "chunks", "status", "attempts")  # attempts: 0 in old records
TEXT_COLUMNS = (
    "worker",
    "scenario",
    "prompt_set",
    "error_kind",
    "error_message",
    "finish_reason",
    "token_source",
)
BOOL_COLUMNS = ("stream",)
LOADED_COLUMNS = (*FLOAT_COLUMNS, *INT_COLUMNS, *TEXT_COLUMNS, *BOOL_COLUMNS)
PIECE_GAPS = 4_000_000  # gaps per piece of ``RecordFrame.itl_pieces`` (32 MB of float64)


@dataclass(frozen=True)
class RecordFrame:
    """Every request of a run: one row each in ``df``, with the chunk gaps stored flat beside it."""

    df: pd.DataFrame
    itl_values: np.ndarray  # float64, the gaps of all requests one after another (ms)
    itl_offsets: np.ndarray  # int64, len(df) + 1: request i owns itl_values[off[i]:off[i+1]]
    t0_s: float  # wall-clock epoch seconds of the run start (what start_s counts from)
    # Tokens per content chunk (records whose server reported them), stored flat like the gaps:
    # request i owns chunk_tokens[chunk_offsets[i]:chunk_offsets[i+1]] (empty when not reported).
    chunk_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    chunk_offsets: np.ndarray | None = None
    skipped_lines: int = 0  # unreadable JSONL lines (a line cut by a killed process)
    source: str = ""  # what the records were read from
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.df)

    def itl_gaps(self, mask: np.ndarray | pd.Series | None = None) -> np.ndarray:
        """The chunk gaps (ms) of the requests selected by the boolean ``mask`` (all when None)."""
        if mask is None:
            return self.itl_values
        mask = np.asarray(mask, dtype=bool)
        if mask.all():
            return self.itl_values  # no copy of (often) hundreds of MiB
        lengths = np.diff(self.itl_offsets)
        return self.itl_values[np.repeat(mask, lengths)]

    def itl_pieces(self, mask: np.ndarray | pd.Series) -> Callable[[], Iterator[np.ndarray]]:
        """The finite chunk gaps (ms) of the requests in ``mask``, as ``bench.stats.Pieces``:
        each call yields them again, about ``PIECE_GAPS`` at a time, so no copy of them all is made."""
        mask = np.asarray(mask, dtype=bool)
        offsets = self.itl_offsets

        def pieces() -> Iterator[np.ndarray]:
            n = mask.size
            lo = 0
            while lo < n:
                hi = int(np.searchsorted(offsets, offsets[lo] + PIECE_GAPS, side="right")) - 1
                hi = min(max(hi, lo + 1), n)
                gaps = self.itl_values[offsets[lo] : offsets[hi]]
                rows = mask[lo:hi]
                if not rows.all():
                    gaps = gaps[np.repeat(rows, np.diff(offsets[lo : hi + 1]))]
                ok = np.isfinite(gaps)
                yield gaps if ok.all() else gaps[ok]
                lo = hi

        return pieces

    def itl_at(self, mask: np.ndarray | pd.Series, positions: np.ndarray) -> np.ndarray:
        """``itl_gaps(mask)[positions]`` without building ``itl_gaps(mask)`` (a sample of the gaps)."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        lengths = np.diff(self.itl_offsets)[rows]
        ends = np.cumsum(lengths)
        which = np.searchsorted(ends, positions, side="right")  # the selected request holding each position
        start = self.itl_offsets[rows[which]] + positions - (ends[which] - lengths[which])
        return self.itl_values[start]


def load_json(path: Path) -> dict[str, Any]:
    """A JSON object file of the results directory, or {} when missing; a broken file is a ResultsError."""
    if not path.is_file():
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return data


def load_records(run_dir: str | Path, *, t0_s: float | None = None) -> RecordFrame:
    """Read the records of ``run_dir``: ``records.parquet`` when present, else ``records/*.jsonl``.

    ``t0_s`` is the run start (epoch seconds); by default it is taken from ``run.json``
    (``started_at_s``) when that is not later than the first request, else the first request's start.
    Raises ResultsError when the directory is missing or holds no records file.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: no such results directory")
    if t0_s is None:
        t0_s = _run_start(load_json(run_dir / "run.json"))
    parquet = run_dir / "records.parquet"
    if parquet.is_file():
        return _from_parquet(parquet, t0_s)
    jsonl = sorted((run_dir / "records").glob("*.jsonl"))
    if not jsonl:
        raise ResultsError(f"{run_dir}: no records (neither records.parquet nor records/*.jsonl)")
    rows, skipped = read_jsonl(jsonl)  # a line cut by a killed process is skipped and counted
    source = f"{len(jsonl)} records/*.jsonl file(s)"
    return _from_rows(rows, t0_s, skipped=skipped, source=source)


def frame_from_records(records: Iterable[Record], *, t0_s: float | None = None) -> RecordFrame:
    """A RecordFrame from ``Record`` objects (tests, and a run that still holds its records in memory)."""
    names = [f.name for f in fields(Record)]
    rows = [{name: getattr(r, name) for name in names} for r in records]
    return _from_rows(rows, t0_s, source="records in memory")


def _run_start(run_info: Mapping[str, Any]) -> float | None:
    for key in ("started_at_s", "start_s", "started_at"):
        value = run_info.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _from_rows(
    rows: list[dict[str, Any]], t0_s: float | None, *, skipped: int = 0, source: str = ""
) -> RecordFrame:
    columns: dict[str, list[Any]] = {name: [r.get(name) for r in rows] for name in LOADED_COLUMNS}
    lengths = np.fromiter((len(r.get("itl_ms") or ()) for r in rows), dtype=np.int64, count=len(rows))
    values = np.fromiter(
        (x for r in rows for x in (r.get("itl_ms") or ())), dtype=np.float64, count=int(lengths.sum())
    )
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    chunk_lengths = np.fromiter(
        (len(r.get("chunk_tokens") or ()) for r in rows), dtype=np.int64, count=len(rows)
    )
    chunks = np.fromiter(
        (x for r in rows for x in (r.get("chunk_tokens") or ())),
        dtype=np.int64,
        count=int(chunk_lengths.sum()),
    )
    df = pd.DataFrame(columns)
    return _finish(df, values, offsets, t0_s, skipped=skipped, source=source, chunks=(chunks, chunk_lengths))


def _from_parquet(path: Path, t0_s: float | None) -> RecordFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # buffer_size: stream pages instead of holding a whole column chunk (hundreds of MiB of gaps).
        parquet = pq.ParquetFile(
            path, pre_buffer=False, buffer_size=1 << 20, read_dictionary=list(TEXT_COLUMNS)
        )
        names = set(parquet.schema_arrow.names)
        n = parquet.metadata.num_rows
        df = _read_columns(parquet, [c for c in LOADED_COLUMNS if c in names], n)
        if "itl_ms" in names:
            values, lengths = _read_list(parquet, "itl_ms", np.float64)
        else:
            values, lengths = np.zeros(0, dtype=np.float64), np.zeros(n, dtype=np.int64)
        if "chunk_tokens" in names:
            chunks = _read_list(parquet, "chunk_tokens", np.int64)
        else:
            chunks = (np.zeros(0, dtype=np.int64), np.zeros(n, dtype=np.int64))
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from None
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    frame = _finish(df, values, offsets, t0_s, source=path.name, chunks=chunks)
    del df
    pa.default_memory_pool().release_unused()  # hand the read buffers back to the OS (peak RSS)
    return frame


def _read_columns(parquet: Any, columns: list[str], n: int) -> pd.DataFrame:
    """The scalar ``columns`` of the Parquet file as a frame, read a batch of rows at a time.

    Numbers go straight into arrays of their final type (nulls: NaN for the float columns, 0 for the
    integer ones, False for ``stream``), so no whole Arrow table and no second frame is ever held: at 10M
    records each would be about 2 GB. Text columns are read whole, dictionary-encoded (a small code per
    row), and become Categorical.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = [c for c in columns if c in TEXT_COLUMNS]
    scalar = [c for c in columns if c not in TEXT_COLUMNS]
    kinds = {c: (np.int64 if c in INT_COLUMNS else bool if c in BOOL_COLUMNS else np.float64) for c in scalar}
    arrays = {c: np.empty(n, dtype=kinds[c]) for c in scalar}
    row = 0
    for batch in (
        parquet.iter_batches(batch_size=262_144, columns=scalar, use_threads=False) if scalar else ()
    ):
        end = row + batch.num_rows
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            kind = kinds[name]
            try:
                if kind is np.float64:
                    part = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)  # null -> NaN
                else:
                    part = pc.fill_null(
                        pc.cast(col, pa.bool_() if kind is bool else pa.int64()), False if kind is bool else 0
                    ).to_numpy(zero_copy_only=False)
            except pa.ArrowException:  # not stored as a number: what pandas makes of it, as for JSONL
                values = pd.to_numeric(pd.Series(col.to_pandas()), errors="coerce")
                part = (
                    values.fillna(0).to_numpy()
                    if kind is not np.float64
                    else values.to_numpy(dtype=np.float64)
                )
            arrays[name][row:end] = part
        row = end
    df = pd.DataFrame(index=pd.RangeIndex(n))
    for name in scalar:
        df[name] = arrays.pop(name)
    if text:
        table = parquet.read(columns=text)  # dictionary-encoded (ParquetFile's read_dictionary)
        for name in text:
            df[name] = table.column(name).to_pandas()
        del table
    return df


def _read_list(parquet: Any, column: str, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """The lists of ``column`` (``itl_ms``, ``chunk_tokens``) as one flat array and a length per row,
    streamed batch by batch.

    The array is allocated once at its final size (the leaf column's value count in the file
    metadata is an upper bound), so the peak is the gaps themselves plus one batch.
    """
    import pyarrow.compute as pc

    meta = parquet.metadata
    leaf = next(i for i in range(meta.num_columns) if meta.schema.column(i).path.split(".")[0] == column)
    bound = sum(meta.row_group(g).column(leaf).num_values for g in range(meta.num_row_groups))
    values = np.empty(bound, dtype=dtype)
    lengths = np.empty(meta.num_rows, dtype=np.int64)
    pos = row = 0
    for batch in parquet.iter_batches(batch_size=65_536, columns=[column], use_threads=False):
        lists = batch.column(0)
        if not hasattr(lists, "flatten"):  # a column of nulls only (no request reported any list)
            lengths[row : row + len(lists)] = 0
            row += len(lists)
            continue
        flat = pc.fill_null(lists.flatten(), 0).to_numpy(zero_copy_only=False)
        values[pos : pos + flat.size] = flat
        pos += flat.size
        counts = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
        lengths[row : row + counts.size] = counts
        row += counts.size
    return values[:pos], lengths[:row]


def _finish(
    df: pd.DataFrame,
    itl_values: np.ndarray,
    itl_offsets: np.ndarray,
    t0_s: float | None,
    *,
    skipped: int = 0,
    source: str = "",
    chunks: tuple[np.ndarray, np.ndarray] | None = None,
) -> RecordFrame:
    """Give every expected column its dtype (missing ones become empty), and add the derived columns."""
    n = len(df)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    # Each column is taken out of ``df`` as it is converted (``pop``), so the two frames are not both
    # held whole (at 10M records each is about 2 GB); ``df`` is the caller's scratch.
    for name in FLOAT_COLUMNS:
        out[name] = (
            pd.to_numeric(df.pop(name), errors="coerce").astype("float64")
            if name in df
            else np.full(n, np.nan)
        )
    for name in INT_COLUMNS:
        out[name] = (
            pd.to_numeric(df.pop(name), errors="coerce").fillna(0).astype("int64")
            if name in df
            else np.zeros(n, dtype=np.int64)
        )
    for name in TEXT_COLUMNS:
        # Categorical: a million repeats of a few names cost one small code each, and group fast.
        out[name] = df.pop(name).astype("category") if name in df else pd.Categorical([None] * n)
    out["stream"] = df.pop("stream").fillna(False).astype(bool).to_numpy() if "stream" in df else False

    started = out["started_at_s"].to_numpy()
    first = float(np.nanmin(started)) if n and not np.isnan(started).all() else None
    if t0_s is None or (first is not None and t0_s > first):
        t0_s = first if first is not None else 0.0
    e2e = out["e2e_ms"].to_numpy()
    out["start_s"] = started - t0_s
    out["end_s"] = out["start_s"].to_numpy() + np.where(np.isnan(e2e), 0.0, e2e) / 1000.0
    out["ok"] = out["error_kind"].isna().to_numpy()

    lengths = np.diff(itl_offsets)
    out["itl_count"] = lengths
    itl_max = np.full(n, np.nan)
    has = lengths > 0
    if has.any():
        # reduceat over the start offset of each non-empty segment gives that segment's maximum.
        itl_max[has] = np.maximum.reduceat(itl_values, itl_offsets[:-1][has])
    out["itl_max_ms"] = itl_max
    notes = (f"{skipped} unreadable record line(s) skipped (cut by a killed process?)",) if skipped else ()
    chunk_values, chunk_lengths = (
        chunks if chunks is not None else (np.zeros(0, dtype=np.int64), np.zeros(n, dtype=np.int64))
    )
    chunk_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(chunk_lengths, out=chunk_offsets[1:])
    frame = RecordFrame(
        df=out,
        itl_values=np.ascontiguousarray(itl_values, dtype=np.float64),
        itl_offsets=itl_offsets,
        chunk_tokens=np.ascontiguousarray(chunk_values, dtype=np.int64),
        chunk_offsets=chunk_offsets,
        t0_s=float(t0_s),
        skipped_lines=skipped,
        source=source,
        notes=notes,
    )
    for metric in metrics.all_metrics():
        if metric.derived:
            out[metric.name] = metric.column(frame)
    return frame
