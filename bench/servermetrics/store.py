"""``server_metrics.jsonl`` (the scraper's lines) -> ``server_metrics.parquet`` + ``server_metrics.json``.

Parquet, one row per sample: ``t_s`` (wall-clock epoch seconds of the scrape: the run's clock, the
one ``records.parquet``'s ``started_at_s`` uses), ``family``, ``name``, ``labels`` (sorted-key JSON,
``""`` for none), ``value``. ``server_metrics.json``: the URL, the scrape counts, failures by kind, the
first failure's message, whether the scraper gave up, the scraper's own CPU seconds, and each
family's type and help text.

pyarrow only (no pandas, no gevent): the runner calls this at the end of a run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from bench.records import read_jsonl

__all__ = ["JSONL", "PARQUET", "SCHEMA", "STATUS", "write_store"]

JSONL = "server_metrics.jsonl"
PARQUET = "server_metrics.parquet"
STATUS = "server_metrics.json"
SCHEMA = pa.schema(
    [
        ("t_s", pa.float64()),
        ("family", pa.dictionary(pa.int32(), pa.string())),
        ("name", pa.dictionary(pa.int32(), pa.string())),
        ("labels", pa.dictionary(pa.int32(), pa.string())),
        ("value", pa.float64()),
    ]
)


def write_store(run_dir: str | Path, *, url: str, interval_s: float) -> dict[str, Any]:
    """Write the Parquet file and the status file from the run's JSONL; returns the status."""
    run_dir = Path(run_dir)
    lines, skipped = read_jsonl([run_dir / JSONL]) if (run_dir / JSONL).is_file() else ([], 0)
    t: list[float] = []
    family: list[str] = []
    name: list[str] = []
    labels: list[str] = []
    value: list[float] = []
    meta: dict[str, list[str]] = {}
    kinds: Counter[str] = Counter()
    first_error = None
    ok = 0
    gave_up = False
    scrape_ms: list[float] = []
    cpu_s = None
    for line in lines:
        if line.get("cpu_s") is not None:
            cpu_s = float(line["cpu_s"])
        if line.get("ok"):
            ok += 1
            scrape_ms.append(float(line.get("ms") or 0.0))
            ts = float(line["t_s"])
            for fam, sample, lab, v in line.get("s") or ():
                t.append(ts)
                family.append(fam)
                name.append(sample)
                labels.append(lab)
                value.append(v)
            meta.update(line.get("meta") or {})
        else:
            kinds[str(line.get("kind"))] += 1
            first_error = first_error or str(line.get("error") or line.get("kind"))
            gave_up = gave_up or bool(line.get("gave_up"))
    table = pa.table(
        {
            "t_s": pa.array(t, pa.float64()),
            "family": pa.array(family, pa.string()).dictionary_encode(),
            "name": pa.array(name, pa.string()).dictionary_encode(),
            "labels": pa.array(labels, pa.string()).dictionary_encode(),
            "value": pa.array(value, pa.float64()),
        },
        schema=SCHEMA,
    )
    pq.write_table(table, run_dir / PARQUET)
    scrape_ms.sort()
    status = {
        "url": url,
        "interval_s": interval_s,
        "scrapes": ok + sum(kinds.values()),
        "ok": ok,
        "failed": dict(kinds),
        "first_error": first_error,
        "gave_up": gave_up,
        "skipped_lines": skipped,
        "samples": len(t),
        "scrape_ms_p50": scrape_ms[len(scrape_ms) // 2] if scrape_ms else None,
        "scrape_ms_max": scrape_ms[-1] if scrape_ms else None,
        "scraper_cpu_s": cpu_s,  # the scraper process's own CPU time, user + system (None: not stopped cleanly)
        "families": meta,
    }
    (run_dir / STATUS).write_bytes(orjson.dumps(status, option=orjson.OPT_INDENT_2) + b"\n")
    return status
