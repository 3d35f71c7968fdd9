"""The run report's data tables, built once from the summary (rendered as Markdown and HTML by the page).

Cells are plain text (numbers formatted by ``bench.numbers``); the renderers escape them for their
format. A value that could not be computed prints as an em dash, never as "nan" or "None".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench import metrics
from bench.analysis.stats import PERCENTILES
from bench.numbers import DASH, fmt, pct
from bench.report.model import Table

__all__ = ["DASH", "LATENCY_METRICS", "Table", "fmt", "pct", "report_tables"]

LATENCY_METRICS: tuple[tuple[str, str, str], ...] = tuple(
    (m.name, m.label, m.unit) for m in metrics.all_metrics(kind="latency")
)
"""(summary key = metric name, label, unit) of every latency the report shows, in order, from the
registry (``bench.metrics``). The one list the tables, the headline and the plots read."""
STAT_KEYS = (*tuple(f"p{q:g}" for q in PERCENTILES), "mean", "max")


def report_tables(summary: Mapping[str, Any]) -> list[Table]:
    """Every table of the report, in order: latency, throughput, errors, goodput, breakdowns, load generator."""
    steady, whole = summary["steady"], summary["whole_run"]
    tables = [_latency(steady, _where(summary))]
    if summary["window"]["source"] != "whole_run":
        tables.append(_latency(whole, "whole run"))
    tables.append(_throughput(steady, whole))
    tables.append(_errors(steady, whole))
    if steady["errors"]["top_messages"]:
        tables.append(_messages(steady))
    tables.append(_goodput(steady, whole, summary))
    for column, rows in summary["breakdowns"].items():
        tables.append(_breakdown(column, rows))
    tables.append(_loadgen(summary))
    from bench.report.server_metrics import server_metrics_tables
    from bench.report.workload import workload_tables

    tables += workload_tables(summary)
    tables += server_metrics_tables(summary)
    return tables


def _latency(section: Mapping[str, Any], where: str) -> Table:
    rows = []
    for key, label, unit in LATENCY_METRICS:
        stats = section["latency_ms"].get(key)
        if stats is None:
            continue
        rows.append((label, unit, fmt(stats["count"]), *(fmt(stats.get(k), 1) for k in STAT_KEYS)))
    note = (
        f"Successful requests only: {section['succeeded']:,} succeeded, {section['failed']:,} failed "
        f"({pct(section['error_rate'])}). Exact percentiles from raw values (linear interpolation)."
    )
    return Table(
        f"Latency ({where})",
        ("metric", "unit", "count", *STAT_KEYS),
        tuple(rows),
        note,
    )


def _throughput(steady: Mapping[str, Any], whole: Mapping[str, Any]) -> Table:
    rows = []
    for key, label in (
        ("requests_per_s", "successful requests/s"),
        ("attempts_per_s", "all requests/s (incl. failed)"),
        ("output_tokens_per_s", "output tokens/s"),
        ("total_tokens_per_s", "total tokens/s (prompt + output)"),
    ):
        rows.append((label, fmt(steady["throughput"][key], 2), fmt(whole["throughput"][key], 2)))
    rows.append(("duration (s)", fmt(steady["duration_s"], 1), fmt(whole["duration_s"], 1)))
    return Table("Throughput", ("", "steady window", "whole run"), tuple(rows))


def _errors(steady: Mapping[str, Any], whole: Mapping[str, Any]) -> Table:
    rows = [
        ("requests", fmt(steady["requests"]), fmt(whole["requests"])),
        ("failed", fmt(steady["failed"]), fmt(whole["failed"])),
        ("error rate", pct(steady["error_rate"]), pct(whole["error_rate"])),
        ("throttled (HTTP 429)", fmt(steady.get("throttled", 0)), fmt(whole.get("throttled", 0))),
        ("resent (kept-alive connection closed)", fmt(steady.get("resent", 0)), fmt(whole.get("resent", 0))),
    ]
    kinds = sorted(set(steady["errors"]["by_kind"]) | set(whole["errors"]["by_kind"]))
    rows += [
        (f"kind: {k}", fmt(steady["errors"]["by_kind"].get(k, 0)), fmt(whole["errors"]["by_kind"].get(k, 0)))
        for k in kinds
    ]
    statuses = sorted(set(steady["errors"]["by_status"]) | set(whole["errors"]["by_status"]), key=int)
    rows += [
        (
            f"HTTP status: {s}" if s != "0" else "no HTTP status (connection-level failure)",
            fmt(steady["errors"]["by_status"].get(s, 0)),
            fmt(whole["errors"]["by_status"].get(s, 0)),
        )
        for s in statuses
    ]
    return Table("Errors", ("", "steady window", "whole run"), tuple(rows))


def _messages(section: Mapping[str, Any]) -> Table:
    rows = tuple(
        (m["error_kind"], str(m["status"]), m["message"] or DASH, fmt(m["count"]))
        for m in section["errors"]["top_messages"]
    )
    return Table("Most common errors (steady window)", ("kind", "status", "message", "count"), rows)


def _goodput(steady: Mapping[str, Any], whole: Mapping[str, Any], summary: Mapping[str, Any]) -> Table:
    limits = steady["goodput"]["limits_ms"]
    if not limits:
        return Table(
            "Goodput",
            ("", ""),
            (("goodput", DASH),),
            "The scenario sets no per-request SLO threshold "
            f"(slo: {' / '.join(metrics.names(kind='latency', slo=True))}), "
            "so goodput is not defined.",
        )
    rows = [
        ("good requests", fmt(steady["goodput"]["good"]), fmt(whole["goodput"]["good"])),
        ("share of all requests", pct(steady["goodput"]["good_share"]), pct(whole["goodput"]["good_share"])),
        (
            "goodput (good req/s)",
            fmt(steady["goodput"]["goodput_rps"], 2),
            fmt(whole["goodput"]["goodput_rps"], 2),
        ),
    ]
    limit_text = ", ".join(f"{k} ≤ {v:g}" for k, v in limits.items())
    note = (
        f"A request is good when it succeeded and {limit_text} for that request "
        "(a percentile threshold's limit applies to each request; itl_ms is the request's largest gap)."
    )
    if steady["goodput"]["ignored"]:
        note += " Not applied per request: " + ", ".join(steady["goodput"]["ignored"]) + "."
    return Table("Goodput", ("", "steady window", "whole run"), tuple(rows), note)


def _breakdown(column: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    timed = [m for m in metrics.all_metrics(kind="latency") if m.per_second]
    stats = [
        (f"{m.stem}_{p}_ms", f"{m.label} {p}", 2 if m.unit != "ms" else 1)
        for m in timed
        for p in ("p50", "p95")
    ]
    out = tuple(
        (
            r["value"],
            fmt(r["requests"]),
            fmt(r["failed"]),
            pct(r["error_rate"], 1),
            *(fmt(r[key], digits) for key, _, digits in stats),
            fmt(r["output_tokens_mean"]),
        )
        for r in rows
    )
    headers = (column, "requests", "failed", "error rate", *(h for _, h, _ in stats), "output tokens (mean)")
    return Table(f"By {column} (steady window; latencies in ms, successful requests)", headers, out)


def _loadgen(summary: Mapping[str, Any]) -> Table:
    health = summary.get("loadgen") or {}
    rows = (
        ("verdict", str(health.get("message", "not assessed"))),
        ("monitor samples", fmt(health.get("samples"))),
        (
            "CPU mean / peak (% of a core)",
            f"{fmt(health.get('cpu_mean_pct'))} / {fmt(health.get('cpu_peak_pct'))}",
        ),
        ("event-loop lag p99 (ms)", fmt(health.get("loop_lag_p99_ms"))),
    )
    return Table("Load generator", ("", ""), rows)


def _where(summary: Mapping[str, Any]) -> str:
    win = summary["window"]
    if win["source"] == "whole_run":
        return "whole run"
    return f"steady window {win['start_s']:.0f}–{win['end_s']:.0f} s"
