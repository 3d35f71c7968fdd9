"""The per-request values the gates judge, taken from the raw records of a results directory.

Every gate (SLO verdict, compare, capacity) reads the same values through ``metric_values`` so the
three can never disagree about what "TPOT p99" means. The values come from the merged records of every
load-generator process (``records.parquet``, else ``records/*.jsonl``), never from Locust's statistics.

Which requests count:

- records whose ``error_kind`` is ``cancelled`` are left out everywhere: they are requests the run itself
  cut off when it ended, not answers of the server;
- latency values come from successful requests only;
- error rate = failed requests / all requests (successful + failed), a fraction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from bench.errors import ResultsError
from bench.records import RECORD_COLUMNS

__all__ = [
    "counted",
    "error_rate",
    "load_records",
    "load_scenario_json",
    "metric_values",
    "ok_requests",
    "output_tokens_per_s",
    "requests_per_s",
    "span_s",
]


def load_records(run_dir: str | Path) -> pd.DataFrame:
    """All records of a results directory as one frame (one row per request).

    Raises ``ResultsError`` when the directory is missing or holds no record.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results directory")
    parquet = path / "records.parquet"
    if parquet.is_file():
        try:
            frame = pd.read_parquet(parquet)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise ResultsError(f"{parquet}: unreadable ({exc})") from exc
    else:
        rows: list[dict[str, Any]] = []
        for jsonl in sorted((path / "records").glob("*.jsonl")):
            for line in jsonl.read_bytes().splitlines():
                if not line.strip():
                    continue
                try:
                    rows.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue  # the last line of a killed process may be cut short
        frame = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    if frame.empty:
        raise ResultsError(f"{path}: no records (expected records.parquet or records/*.jsonl)")
    return frame


def load_scenario_json(run_dir: str | Path) -> dict[str, Any]:
    """The resolved scenario of a run (``scenario.json``), or ``{}`` when the file is absent."""
    path = Path(run_dir, "scenario.json")
    if not path.is_file():
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from exc
    return data if isinstance(data, dict) else {}


def counted(frame: pd.DataFrame) -> pd.DataFrame:
    """The requests that count: every record except those the run cancelled when it ended."""
    return frame[frame["error_kind"].ne("cancelled") | frame["error_kind"].isna()]


def ok_requests(frame: pd.DataFrame) -> pd.DataFrame:
    """The successful requests (no error kind)."""
    return frame[frame["error_kind"].isna()]


def error_rate(frame: pd.DataFrame) -> float | None:
    """failed / all counted requests (a fraction, 0..1); None when there is no request."""
    frame = counted(frame)
    if len(frame) == 0:
        return None
    return float(frame["error_kind"].notna().sum() / len(frame))


def metric_values(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """The raw values of a latency metric (ms) over the successful requests, as float64.

    - ``ttft_ms``: time to the first content chunk, per streamed request;
    - ``tpot_ms``: time per output token after the first, per streamed request with at least two
      output tokens: (e2e_ms - ttft_ms) / (output_tokens - 1);
    - ``itl_ms``: every gap between consecutive content chunks of every request, pooled;
    - ``e2e_ms``: request start to the whole answer, per request.
    """
    ok = ok_requests(frame)
    if metric in ("ttft_ms", "e2e_ms"):
        values = _floats(ok[metric])
        return values[~np.isnan(values)]
    if metric == "tpot_ms":
        ttft = _floats(ok["ttft_ms"])
        e2e = _floats(ok["e2e_ms"])
        tokens = _floats(ok["output_tokens"])
        keep = ~np.isnan(ttft) & ~np.isnan(e2e) & (tokens > 1)
        return (e2e[keep] - ttft[keep]) / (tokens[keep] - 1)
    if metric == "itl_ms":
        parts = [np.asarray(v, dtype="float64") for v in ok["itl_ms"] if v is not None and len(v)]
        return np.concatenate(parts) if parts else np.empty(0)
    raise ValueError(f"unknown metric {metric!r}")


def _floats(series: pd.Series) -> np.ndarray:
    """A numeric column as float64, None -> NaN (rows stay aligned)."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def span_s(frame: pd.DataFrame) -> float:
    """Seconds from the first request's start to the last request's end (wall-clock start + e2e)."""
    if len(frame) == 0:
        return 0.0
    start = pd.to_numeric(frame["started_at_s"]).to_numpy(dtype="float64")
    e2e = pd.to_numeric(frame["e2e_ms"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
    return float(np.max(start + e2e / 1000.0) - np.min(start))


def requests_per_s(frame: pd.DataFrame, duration_s: float | None = None) -> float | None:
    """Successful requests per second: successful / duration_s (default: ``span_s`` of the frame)."""
    duration = span_s(counted(frame)) if duration_s is None else duration_s
    if duration <= 0:
        return None
    return float(len(ok_requests(frame)) / duration)


def output_tokens_per_s(frame: pd.DataFrame, duration_s: float | None = None) -> float | None:
    """Output tokens of successful requests per second (tokens/s) over ``duration_s``."""
    duration = span_s(counted(frame)) if duration_s is None else duration_s
    if duration <= 0:
        return None
    tokens = pd.to_numeric(ok_requests(frame)["output_tokens"], errors="coerce").fillna(0).sum()
    return float(tokens / duration)
