"""The outputs of a run: ``summary.json``, ``summary.md``, ``report.html`` and PNG plots in its directory.

``build_report(run_dir)`` rebuilds them all from the results directory alone (``chatbench report`` and
the end of ``chatbench run`` both call it); ``headline_table(summary)`` is the few lines a terminal shows.
Never imports locust or gevent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.analysis.schema import Summary
    from bench.scenario.slo import Slo

__all__ = ["ReportResult", "build_report", "headline_table"]


@dataclass(frozen=True)
class ReportResult:
    """What ``build_report`` wrote, and the summary it wrote into ``summary.json`` (``summary.to_json()``)."""

    summary: Summary
    paths: Mapping[str, Path]  # "summary.json", "summary.md", "report.html", and each plot's file stem

    @property
    def html_path(self) -> Path:
        return self.paths["report.html"]


def build_report(
    run_dir: str | Path,
    *,
    window: str | tuple[float | None, float | None] | None = None,
    verdict: Any = None,
    slo: Slo | None = None,
) -> ReportResult:
    """Analyse ``run_dir`` and write the report files into it.

    ``window``: ``"START:END"`` (seconds from the run start, either side may be empty) or a pair; None
    finds the steady-state window automatically. ``verdict``: the SLO gate's verdict of the same
    records and window (``bench.gates.slo.SloVerdict``, or its ``to_dict()`` form), shown first; the
    report never judges the SLOs itself. ``slo``: the SLOs the run is judged by (goodput's per-request
    limits); None reads them from the gate's ``slo.json`` when present, else from ``scenario.json``. Raises ``ResultsError`` for a missing directory or one without
    records, ``UsageError`` for a malformed window.
    """
    import orjson

    from bench.analysis.frames import load_json
    from bench.analysis.summary import analyze
    from bench.report.html import render_html
    from bench.report.markdown import render_markdown
    from bench.report.model import Figure
    from bench.report.plots import PLOTS, write_plots
    from bench.report.run_report import run_page
    from bench.report.server_metrics import PANEL_CAPTION, server_metrics_part

    run_dir = Path(run_dir)
    from bench.gates.data import run_slo

    analysis = analyze(run_dir, window=window, slo=slo if slo is not None else run_slo(run_dir))
    plot_paths = write_plots(analysis, run_dir)
    paths: dict[str, Path] = {
        "summary.json": run_dir / "summary.json",
        "summary.md": run_dir / "summary.md",
        "report.html": run_dir / "report.html",
        **plot_paths,
    }
    figures = [Figure(PLOTS[name][0], path) for name, path in plot_paths.items()]
    server = server_metrics_part(analysis, run_dir)
    if server is not None and server.figure is not None:
        paths["server_metrics"] = run_dir / "server_metrics.png"
        server.figure.savefig(paths["server_metrics"], dpi=100)
        figures.append(Figure(PANEL_CAPTION, paths["server_metrics"]))
    summary = analysis.summary.reported(
        verdict=verdict.to_dict() if hasattr(verdict, "to_dict") else verdict,
        server_metrics=server.block if server is not None else None,
        note=server.note if server is not None else None,
        files={name: path.name for name, path in paths.items()},
    )
    paths["summary.json"].write_bytes(orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    page = run_page(summary, load_json(run_dir / "scenario.json"), load_json(run_dir / "run.json"), figures)
    paths["summary.md"].write_text(render_markdown(page), encoding="utf-8")
    paths["report.html"].write_text(render_html(page), encoding="utf-8")
    return ReportResult(summary, paths)


def headline_table(summary: Summary, html_path: str | Path | None = None) -> str:
    """The terminal summary: requests, failed, req/s, output tok/s, TTFT/TPOT/E2E p50/p95/p99, goodput.

    Figures are those of the steady-state window (the whole run when there is none). ``html_path``
    defaults to the report.html named in ``summary.files`` (relative to the run directory).
    """
    from bench import metrics
    from bench.numbers import DASH, fmt, pct

    section = summary.steady
    win = summary.window
    where = (
        "whole run"
        if win.source == "whole_run"
        else f"steady window {win.start_s:.0f}–{win.end_s:.0f} s of {summary.run.duration_s:.0f} s"
    )
    name = summary.run.scenario or summary.run.run_id or "run"
    lines = [f"chatbench: {name} ({where}, {win.duration_s:.1f} s)"]
    lines.append(
        f"  requests     {section.requests:>10,}    failed {section.failed:,} ({pct(section.error_rate)})"
    )
    # The commonest failures with the server's own words (``model 'nope' does not exist``), not only kinds.
    for err in section.errors.top_messages[:3]:
        status = f" {err.status}" if err.status else ""
        said = f": {_one_line(err.message)}" if err.message else ""
        lines.append(f"  {'error':<12} {err.count:>10,} x {err.error_kind}{status}{said}")
    tp = section.throughput
    lines.append(
        f"  throughput   {fmt(tp.requests_per_s, 2):>10} req/s (successful)   "
        f"{fmt(tp.output_tokens_per_s, 1)} output tok/s"
    )
    lines.append(f"  {'latency':<12} {'p50':>10} {'p95':>10} {'p99':>10}")
    for m in metrics.all_metrics(kind="latency"):
        if not m.per_second:
            continue
        stats = section.latency_ms.get(m.name)
        values = (stats.p50, stats.p95, stats.p99) if stats is not None else (None, None, None)
        lines.append(f"  {m.label:<12} " + " ".join(f"{fmt(v, 1):>10}" for v in values) + f"  {m.unit}")
    gp = section.goodput
    if gp.limits_ms:
        lines.append(
            f"  goodput      {fmt(gp.goodput_rps, 2):>10} req/s   "
            f"{pct(gp.good_share, 1)} of requests met every SLO threshold"
        )
    else:
        lines.append(f"  goodput      {DASH:>10}   (no per-request SLO threshold in the scenario)")
    for warning in summary.warnings:
        lines.append(f"  WARNING: {warning}")
    for note in summary.notes:
        lines.append(f"  note: {note}")
    if html_path is None:
        html_path = summary.files.get("report.html")
    if html_path is not None:
        lines.append(f"  report       {html_path}")
    return "\n".join(lines)


def _one_line(message: str, limit: int = 160) -> str:
    """A server's error message on one terminal line: whitespace collapsed, cut at ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
