"""The run report's data tables, built once from the summary (rendered as Markdown and HTML by the page).

Cells are plain text (numbers formatted by ``bench.numbers``); the renderers escape them for their
format. A value that could not be computed prints as an em dash, never as "nan" or "None".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench import metrics
from bench.numbers import DASH, fmt, pct
from bench.report.model import Table
from bench.stats import PERCENTILES

if TYPE_CHECKING:
    from bench.analysis.schema import BreakdownRow, Section, Stats, Summary

__all__ = ["DASH", "LATENCY_METRICS", "Table", "fmt", "pct", "report_tables"]

LATENCY_METRICS: tuple[tuple[str, str, str], ...] = tuple(
    (m.name, m.label, m.unit) for m in metrics.all_metrics(kind="latency")
)
"""(summary key = metric name, label, unit) of every latency the report shows, in order, from the
registry (``bench.metrics``). The one list the tables, the headline and the plots read."""
STAT_KEYS = (*tuple(f"p{q:g}" for q in PERCENTILES), "mean", "max")


def _stat_cells(stats: Stats) -> tuple[float | None, ...]:
    """The values under ``STAT_KEYS``: the percentiles, mean and max."""
    return (*(stats.p(q) for q in PERCENTILES), stats.mean, stats.max)


def report_tables(summary: Summary) -> list[Table]:
    """Every table of the report, in order: latency, throughput, errors, goodput, breakdowns, load generator."""
    steady, whole = summary.steady, summary.whole_run
    tables = [_latency(steady, _where(summary))]
    if summary.window.source != "whole_run":
        tables.append(_latency(whole, "whole run"))
    tables.append(_throughput(steady, whole))
    tables.append(_errors(steady, whole))
    if steady.errors.top_messages:
        tables.append(_messages(steady))
    tables.append(_goodput(steady, whole))
    for column, rows in summary.breakdowns.items():
        tables.append(_breakdown(column, rows))
    tables.append(_loadgen(summary))
    from bench.report.server_metrics import server_metrics_tables
    from bench.report.workload import workload_tables

    tables += workload_tables(summary)
    tables += server_metrics_tables(summary)
    return tables


def _latency(section: Section, where: str) -> Table:
    rows = []
    for key, label, unit in LATENCY_METRICS:
        stats = section.latency_ms.get(key)
        if stats is None:
            continue
        rows.append((label, unit, fmt(stats.count), *(fmt(v, 1) for v in _stat_cells(stats))))
    note = (
        f"Successful requests only: {section.succeeded:,} succeeded, {section.failed:,} failed "
        f"({pct(section.error_rate)}). Exact percentiles from raw values (linear interpolation)."
    )
    return Table(
        f"Latency ({where})",
        ("metric", "unit", "count", *STAT_KEYS),
        tuple(rows),
        note,
    )


def _throughput(steady: Section, whole: Section) -> Table:
    a, b = steady.throughput, whole.throughput
    rows = [
        ("successful requests/s", fmt(a.requests_per_s, 2), fmt(b.requests_per_s, 2)),
        ("all requests/s (incl. failed)", fmt(a.attempts_per_s, 2), fmt(b.attempts_per_s, 2)),
        ("output tokens/s", fmt(a.output_tokens_per_s, 2), fmt(b.output_tokens_per_s, 2)),
        ("total tokens/s (prompt + output)", fmt(a.total_tokens_per_s, 2), fmt(b.total_tokens_per_s, 2)),
        ("duration (s)", fmt(steady.duration_s, 1), fmt(whole.duration_s, 1)),
    ]
    return Table("Throughput", ("", "steady window", "whole run"), tuple(rows))


def _errors(steady: Section, whole: Section) -> Table:
    rows = [
        ("requests", fmt(steady.requests), fmt(whole.requests)),
        ("failed", fmt(steady.failed), fmt(whole.failed)),
        ("error rate", pct(steady.error_rate), pct(whole.error_rate)),
        ("throttled (HTTP 429)", fmt(steady.throttled), fmt(whole.throttled)),
        ("resent (kept-alive connection closed)", fmt(steady.resent), fmt(whole.resent)),
    ]
    a, b = steady.errors, whole.errors
    kinds = sorted(set(a.by_kind) | set(b.by_kind))
    rows += [(f"kind: {k}", fmt(a.by_kind.get(k, 0)), fmt(b.by_kind.get(k, 0))) for k in kinds]
    statuses = sorted(set(a.by_status) | set(b.by_status), key=int)
    rows += [
        (
            f"HTTP status: {s}" if s != "0" else "no HTTP status (connection-level failure)",
            fmt(a.by_status.get(s, 0)),
            fmt(b.by_status.get(s, 0)),
        )
        for s in statuses
    ]
    return Table("Errors", ("", "steady window", "whole run"), tuple(rows))


def _messages(section: Section) -> Table:
    rows = tuple(
        (m.error_kind, str(m.status), m.message or DASH, fmt(m.count)) for m in section.errors.top_messages
    )
    return Table("Most common errors (steady window)", ("kind", "status", "message", "count"), rows)


def _goodput(steady: Section, whole: Section) -> Table:
    a, b = steady.goodput, whole.goodput
    limits = a.limits_ms
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
        ("good requests", fmt(a.good), fmt(b.good)),
        ("share of all requests", pct(a.good_share), pct(b.good_share)),
        ("goodput (good req/s)", fmt(a.goodput_rps, 2), fmt(b.goodput_rps, 2)),
    ]
    limit_text = ", ".join(f"{k} ≤ {v:g}" for k, v in limits.items())
    note = (
        f"A request is good when it succeeded and {limit_text} for that request "
        "(a percentile threshold's limit applies to each request; itl_ms is the request's largest gap)."
    )
    if a.ignored:
        note += " Not applied per request: " + ", ".join(a.ignored) + "."
    return Table("Goodput", ("", "steady window", "whole run"), tuple(rows), note)


def _breakdown(column: str, rows: Sequence[BreakdownRow]) -> Table:
    timed = [m for m in metrics.all_metrics(kind="latency") if m.per_second]
    stats = [
        (m.name, q, f"{m.label} p{q:g}", 2 if m.unit != "ms" else 1) for m in timed for q in (50.0, 95.0)
    ]
    out = tuple(
        (
            r.value,
            fmt(r.requests),
            fmt(r.failed),
            pct(r.error_rate, 1),
            *(fmt(_group_p(r, name, q), digits) for name, q, _, digits in stats),
            fmt(r.output_tokens_mean),
        )
        for r in rows
    )
    headers = (
        column,
        "requests",
        "failed",
        "error rate",
        *(h for _, _, h, _ in stats),
        "output tokens (mean)",
    )
    return Table(f"By {column} (steady window; latencies in ms, successful requests)", headers, out)


def _group_p(row: BreakdownRow, metric: str, q: float) -> float | None:
    group = row.latency.get(metric)
    return group.p(q) if group is not None else None


def _loadgen(summary: Summary) -> Table:
    h = summary.loadgen
    rows = (
        ("verdict", h.message if h is not None else "not assessed"),
        ("monitor samples", fmt(h.samples if h is not None else None)),
        (
            "CPU mean / peak (% of a core)",
            f"{fmt(h.cpu_mean_pct if h else None)} / {fmt(h.cpu_peak_pct if h else None)}",
        ),
        (
            "event-loop lag p99 / max (ms)",
            f"{fmt(h.loop_lag_p99_ms if h else None)} / {fmt(h.loop_lag_max_ms if h else None)}",
        ),
        ("major page faults", fmt(h.majflt if h is not None else None)),
    )
    return Table("Load generator", ("", ""), rows)


def _where(summary: Summary) -> str:
    win = summary.window
    if win.source == "whole_run":
        return "whole run"
    return f"steady window {win.start_s:.0f}–{win.end_s:.0f} s"
