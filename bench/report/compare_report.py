"""What ``chatbench compare`` writes: ``compare.json``, ``compare.md``, ``compare.html``, CDF overlay PNGs,
and the terminal block. The page is a ``bench.report.model.Page`` in the report's reading order (verdict,
setup, plots, the metric table), rendered by the report's one HTML template and Markdown writer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
from matplotlib.figure import Figure as MplFigure

from bench import metrics
from bench.compare.runs import LATENCY, Comparison, MetricDelta, RunSample
from bench.numbers import DASH, fmt, pct, qty
from bench.report.html import render_html
from bench.report.markdown import render_markdown
from bench.report.model import Facts, Figure, Page, Section, Table, Text, Verdict

__all__ = [
    "comparison_page",
    "format_comparison",
    "write_cdf_plots",
    "write_comparison",
]

_LABELS = {m.name: m.label for m in metrics.all_metrics()}


def _value(d: MetricDelta, value: float | None) -> str:
    if value is None:
        return DASH
    if d.unit == "fraction":
        return pct(value)
    return qty(value, d.unit, 1 if d.unit == "ms" else 2)


def _change(d: MetricDelta) -> str:
    if d.delta is None:
        return DASH
    if d.unit == "fraction":
        return f"{d.delta * 100:+,.2f} pp"
    rel = f" ({d.relative * 100:+,.1f} %)" if d.relative is not None else ""
    return f"{d.delta:+,.2f}{rel}"


def _interval(d: MetricDelta) -> str:
    if d.ci_low is None or d.ci_high is None:
        return DASH
    if d.unit == "fraction":
        return f"[{d.ci_low * 100:+,.2f}, {d.ci_high * 100:+,.2f}] pp"
    return f"[{d.ci_low:+,.2f}, {d.ci_high:+,.2f}]"


def _headline(comparison: Comparison) -> str:
    """``REGRESSION in 2 metric(s)``, ``INCONCLUSIVE (...)`` or ``no significant regression (12 judged)``."""
    verdict = comparison.verdict
    if verdict == "regression":
        return f"REGRESSION in {len(comparison.regressions)} metric(s)"
    if verdict == "inconclusive":
        return "INCONCLUSIVE (no verdict: " + "; ".join(comparison.inconclusive_because) + ")"
    return f"no significant regression ({len(comparison.judged)} metric(s) judged)"


def _mark(comparison: Comparison, d: MetricDelta) -> str:
    """A metric's verdict in words; a regression of an inconclusive comparison is shown, not claimed."""
    if d.verdict == "regression":
        mark = "REGRESSED" if comparison.verdict == "regression" else "worse (not judged: inconclusive)"
    else:
        mark = {"improvement": "improved", "no change": "", "n/a": "not judged"}[d.verdict]
    return f"{mark} ({d.note})" if d.note else mark


def format_comparison(comparison: Comparison) -> str:
    """A readable block for the terminal: headline, the metrics judged, those not judged, warnings."""
    lines = [
        f"compare: {_headline(comparison)} - candidate {comparison.candidate} vs baseline "
        f"{comparison.baseline} (tolerance {pct(comparison.tolerance, 0)}, {pct(comparison.confidence, 0)} "
        "bootstrap intervals)"
    ]
    lines += [f"  WARNING: compared with --force although {d}" for d in comparison.forced]
    width = max(len(d.metric) for d in comparison.deltas) if comparison.deltas else 10
    for d in sorted(comparison.judged, key=lambda d: d.verdict != "regression"):
        lines.append(
            f"  {d.metric:<{width}}  {_value(d, d.baseline):>14} -> {_value(d, d.candidate):>14}  "
            f"{_change(d):>20}  CI {_interval(d):<22} {_mark(comparison, d)}"
        )
    if comparison.not_judged:
        lines.append("  not judged:")
        lines += [f"  {d.metric:<{width}}  {d.note or 'nothing to compare'}" for d in comparison.not_judged]
    lines += [f"  note: {n}" for n in comparison.notes]
    return "\n".join(lines)


def comparison_page(
    comparison: Comparison, baseline: RunSample, candidate: RunSample, figures: Sequence[Figure] = ()
) -> Page:
    """The comparison in reading order: the verdict, the setup, the CDF overlays, the metric table."""
    if comparison.verdict == "regression":
        verdict = Verdict(False, f"REGRESSION: {', '.join(d.metric for d in comparison.regressions)}")
    elif comparison.verdict == "inconclusive":
        verdict = Verdict(None, "Inconclusive: " + "; ".join(comparison.inconclusive_because))
    else:
        verdict = Verdict(True, f"No significant regression ({len(comparison.judged)} metrics judged)")
    conf = pct(comparison.confidence, 0)
    rule = Text(
        f"A change is a regression when it is worse, its {conf} bootstrap interval "
        f"({comparison.resamples} resamples, seed {comparison.seed}) excludes zero, and it exceeds the "
        f"tolerance ({pct(comparison.tolerance, 0)} relative; error rate {comparison.error_tolerance * 100:.2g} pp)."
    )
    setup = Facts(
        (
            (
                "baseline",
                f"{comparison.baseline}: {fmt(baseline.requests)} requests, {fmt(baseline.failed)} failed",
            ),
            (
                "candidate",
                f"{comparison.candidate}: {fmt(candidate.requests)} requests, {fmt(candidate.failed)} failed",
            ),
            (
                "tolerance",
                f"{pct(comparison.tolerance, 0)} relative, error rate {comparison.error_tolerance * 100:.2g} pp",
            ),
            (
                "intervals",
                f"{conf} bootstrap over requests, {comparison.resamples} resamples, seed {comparison.seed}",
            ),
        )
    )
    rows = []
    for d in comparison.judged:
        rows.append(
            (
                d.metric,
                _value(d, d.baseline),
                _value(d, d.candidate),
                _change(d),
                _interval(d),
                _mark(comparison, d) or "no change",
            )
        )
    table = Table(
        "Metrics",
        ("metric", "baseline", "candidate", "change", f"{conf} CI of change", "verdict"),
        tuple(rows),
    )
    not_judged = Table(
        "Not judged",
        ("metric", "baseline", "candidate", "why"),
        tuple(
            (d.metric, _value(d, d.baseline), _value(d, d.candidate), d.note or "nothing to compare")
            for d in comparison.not_judged
        ),
    )
    warnings = tuple(Text(f"Compared with --force although {d}.", "warning") for d in comparison.forced)
    sections = (
        Section(
            "verdict",
            "Verdict",
            (verdict, *warnings, rule, *(Text(n, "note") for n in comparison.notes)),
        ),
        Section("setup", "Setup", (setup,)),
        Section("plots", "Plots", tuple(figures)),
        Section("tables", "Tables", (table, not_judged) if comparison.not_judged else (table,)),
    )
    return Page("compare", f"{comparison.candidate} vs baseline {comparison.baseline}", "", sections)


def _plotted(values: np.ndarray) -> np.ndarray:
    """At most 200,000 of ``values`` (a seeded sample): millions of ITL gaps draw the same CDF on a screen."""
    if values.size <= 200_000:
        return values
    return np.random.default_rng(0).choice(values, 200_000, replace=False)


def write_cdf_plots(baseline: RunSample, candidate: RunSample, out_dir: Path) -> dict[str, Path]:
    """One PNG per latency metric: the empirical CDFs of both runs overlaid (2001 points each)."""
    paths: dict[str, Path] = {}
    for metric in LATENCY:
        runs = [
            (_plotted(values), values.size, label, color)
            for values, label, color in (
                (baseline.latency_ms[metric], f"baseline {baseline.name}", "#1f77b4"),
                (candidate.latency_ms[metric], f"candidate {candidate.name}", "#d62728"),
            )
            if values.size
        ]
        if not runs:
            continue
        fig = MplFigure(figsize=(7.5, 4.2), layout="constrained")
        ax = fig.subplots()
        for drawn, n, label, color in runs:
            probs = np.linspace(0.0, 1.0, min(drawn.size, 2001))
            xs = np.quantile(drawn, probs, method="inverted_cdf")
            ax.step(xs, probs, where="post", label=f"{label} (n={n})", color=color)
        for q in (0.5, 0.9, 0.99):
            ax.axhline(q, color="#999999", lw=0.6, ls=":")
        top = max(float(np.quantile(drawn, 0.995)) for drawn, *_ in runs)
        ax.set_xlim(left=0, right=top * 1.05 if top > 0 else None)
        ax.set_xlabel(f"{_LABELS[metric]} (ms)")
        ax.set_ylabel("fraction at or below" if metric == "itl_ms" else "fraction of requests at or below")
        ax.set_title(f"{_LABELS[metric]}: baseline vs candidate (CDF, up to p99.5)")
        ax.legend(loc="lower right")
        path = out_dir / f"cdf_{metric}.png"
        fig.savefig(path, dpi=100)
        paths[metric] = path
    return paths


def write_comparison(
    comparison: Comparison, baseline: RunSample, candidate: RunSample, out_dir: str | Path
) -> dict[str, Path]:
    """Write ``compare.json``, ``compare.md``, ``compare.html`` and the CDF overlays; returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "compare.json", "markdown": out / "compare.md", "html": out / "compare.html"}
    paths["json"].write_bytes(orjson.dumps(comparison.to_dict(), option=orjson.OPT_INDENT_2))
    figures = []
    for metric, path in write_cdf_plots(baseline, candidate, out).items():
        paths[f"cdf_{metric}"] = path
        figures.append(Figure(f"{_LABELS[metric]}: baseline and candidate CDFs", path))
    page = comparison_page(comparison, baseline, candidate, figures)
    paths["markdown"].write_text(render_markdown(page), encoding="utf-8")
    paths["html"].write_text(render_html(page), encoding="utf-8")
    return paths
