"""The run report's plots, as PNG files. matplotlib on the Agg renderer, no pyplot state.

Figures are ``matplotlib.figure.Figure`` objects made directly (not through pyplot), so nothing is
kept in a global registry and no window can open; each is dropped after ``savefig``. Plots of a
million requests stay fast because they draw summaries (quantiles of sorted values, per-bucket
figures of ``bench.analysis.series``, at most ``MAX_SCATTER`` sampled points), never every point.

Rules every plot follows: a unit on every value axis (TPOT in ms/token); value axes start at zero
(a log axis says so in its label); the percentiles marked are the summary's own (the tables' numbers);
a figure computed from too few values says so on the plot; a plot without data is a short line of
text, not an empty frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from bench import metrics
from bench.analysis import series
from bench.analysis.metrics import latency_values
from bench.analysis.schema import BreakdownRow
from bench.analysis.summary import Analysis
from bench.report.tables import LATENCY_METRICS
from bench.stats import min_samples

__all__ = ["PLOTS", "write_plots"]

MAX_SCATTER = 20_000
MAX_CDF_VALUES = 200_000  # more values than this: a seeded sample draws the curve (as compare does)
DPI = 100
COLORS = {"p50": "#1f77b4", "p90": "#2ca02c", "p95": "#ff7f0e", "p99": "#d62728", "p99.9": "#7b1fa2"}
GREY = "#9e9e9e"
UNITS = {key: unit for key, _, unit in LATENCY_METRICS}
LABELS = {key: label.split(" (")[0] for key, label, _ in LATENCY_METRICS}
CDF_METRICS = tuple(m.name for m in metrics.all_metrics(kind="latency") if m.plotted)
TIME_METRICS = series.TIMED


def write_plots(analysis: Analysis, out_dir: Path) -> dict[str, Path]:
    """Write every plot of ``PLOTS`` into ``out_dir``; returns name -> path."""
    paths = {}
    for name, (title, draw) in PLOTS.items():
        fig = draw(analysis)
        if fig.get_suptitle() == "":
            fig.suptitle(title)
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        fig.clear()
        paths[name] = path
    return paths


def _figure(
    rows: int = 1,
    cols: int = 1,
    *,
    width: float = 11.0,
    row_height: float = 3.4,
    layout: Literal["constrained"] | None = "constrained",
    **kw: Any,
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width, 0.8 + row_height * rows), layout=layout)
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, [ax for row in axes for ax in row]


def _message(title: str, text: str) -> Figure:
    """A plot with nothing to draw: one short line saying why, no axes."""
    fig = Figure(figsize=(11.0, 1.1), layout="constrained")
    fig.suptitle(title)
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.45, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="#555")
    return fig


def _note(ax: Axes, text: str) -> None:
    """Say on the axes why one panel has nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])


def _shade_window(ax: Axes, analysis: Analysis) -> None:
    win = analysis.window
    if win.source != "whole_run" and win.duration_s > 0:
        ax.axvspan(win.start_s, win.end_s, color="#2ca02c", alpha=0.07, label="steady window", zorder=0)


def _run_end(analysis: Analysis) -> float:
    return max(float(analysis.summary.run.duration_s), 1e-9)


def _window_label(analysis: Analysis) -> str:
    win = analysis.window
    if win.source == "whole_run":
        return "whole run"
    return f"window {win.start_s:.0f}–{win.end_s:.0f} s"


def _axis_label(key: str) -> str:
    return f"{LABELS[key]} ({UNITS[key]})"


def _sample_positions(n: int) -> np.ndarray:
    """The seeded positions the CDF of n > MAX_CDF_VALUES values is drawn from."""
    return np.random.default_rng(0).integers(0, n, MAX_CDF_VALUES)


def _itl_sample(analysis: Analysis, n: int) -> tuple[np.ndarray, int]:
    """The ITL values the CDF draws (the sample of ``_sample_positions`` when more than
    MAX_CDF_VALUES), taken where they lie instead of from a copy of every gap; and their count."""
    frame, df = analysis.frame, analysis.frame.df
    streamed = analysis.in_window & df["ok"].to_numpy(dtype=bool) & df["stream"].to_numpy(dtype=bool)
    selected = int(np.diff(frame.itl_offsets)[streamed].sum())
    if n <= MAX_CDF_VALUES or selected != n:  # few gaps, or some not finite: the plain way
        data = latency_values(frame, analysis.in_window, ("itl_ms",))["itl_ms"]
        return data, int(data.size)
    return frame.itl_at(streamed, _sample_positions(n)), n


def latency_cdf(analysis: Analysis) -> Figure:
    """CDFs of TTFT, TPOT, ITL and E2E (top), and their tails on a log scale of 1 - p (bottom)."""
    stats = analysis.summary.steady.latency_ms
    # Fixed margins: the constrained layout of eight axes costs more than drawing them (1M-record runs).
    fig, axes = _figure(2, 4, width=13.0, row_height=3.0, layout=None)
    fig.subplots_adjust(left=0.055, right=0.99, top=0.9, bottom=0.09, wspace=0.32, hspace=0.28)
    fig.suptitle(f"Latency distributions ({_window_label(analysis)}, successful requests)")
    for col, key in enumerate(CDF_METRICS):
        top, tail = axes[col], axes[4 + col]
        if key == "itl_ms":  # tens of millions of gaps: the count from the summary, the curve from a sample
            itl = stats.get("itl_ms")
            data, n = _itl_sample(analysis, itl.count if itl is not None else 0)
        else:
            data = latency_values(analysis.frame, analysis.in_window, (key,))[key]
            n = int(data.size)
        what = "gaps" if key == "itl_ms" else "requests"
        top.set_title(f"{LABELS[key]} (n = {n:,} {what})", fontsize=10)
        if n == 0:
            _note(top, "no successful streamed request" if key != "e2e_ms" else "no successful request")
            tail.axis("off")
            continue
        sampled = n > MAX_CDF_VALUES
        if sampled and data.size > MAX_CDF_VALUES:
            data = data[_sample_positions(n)]
        ordered = np.sort(data)
        m = ordered.size
        probs = np.concatenate((np.linspace(0, 1, 1001), 1 - np.geomspace(1, 1 / m, 400)))
        probs = np.unique(np.clip(probs, 0, 1))
        xs = ordered[np.minimum((probs * (m - 1)).round().astype(np.int64), m - 1)]
        top.plot(xs, probs, color="#1f77b4", lw=1.4, drawstyle="steps-post" if m < 50 else "default")
        top.set_ylim(0, 1.02)
        top.set_xlim(0, float(ordered[-1]) * 1.03 or 1.0)
        top.set_ylabel("fraction ≤ x")
        top.grid(True, alpha=0.3)
        # The tail: 1 - p on a log axis, so p99 and p99.9 are as far apart as p50 and p90.
        survival = 1.0 - probs
        keep = survival > 0
        tail.plot(xs[keep], survival[keep], color="#1f77b4", lw=1.4)
        tail.set_yscale("log")
        tail.set_ylim(max(0.5 / m, 1e-6), 1.0)
        tail.set_xlim(0, float(ordered[-1]) * 1.03 or 1.0)
        tail.set_ylabel("fraction > x (log)")
        tail.set_xlabel(_axis_label(key))
        tail.grid(True, alpha=0.25)
        mine = stats.get(key)
        for p in ("p50", "p90", "p99", "p99.9"):
            q = float(p[1:])
            value = mine.p(q) if mine is not None else None
            if value is None or n < min_samples(q):
                continue
            tail.axhline(1 - q / 100, color=COLORS[p], lw=0.8, ls=":")
            tail.plot([value], [1 - q / 100], "o", color=COLORS[p], ms=4, label=f"{p} {value:,.1f}")
        if tail.get_legend_handles_labels()[0]:
            tail.legend(loc="lower left", fontsize=7, framealpha=0.9)
        if sampled:
            top.text(
                0.98,
                0.04,
                f"curve from {MAX_CDF_VALUES:,} sampled\nmarked percentiles exact",
                transform=top.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
                color="#555",
            )
    return fig


def percentiles_over_time(analysis: Analysis) -> Figure:
    """p50/p95/p99 of TTFT, TPOT and E2E per time bucket, with the count per bucket; sparse ones marked."""
    run_end = _run_end(analysis)
    data = series.latency_over_time(analysis.frame, analysis.counted, run_end)
    width = data.width_s
    fig, axes = _figure(3, 1, row_height=2.5, sharex=True)
    fig.suptitle(f"Latency percentiles over time ({width:g} s buckets by end time, successful requests)")
    centers = (data.edges_s[:-1] + data.edges_s[1:]) / 2
    drew = False
    for ax, key in zip(axes, TIME_METRICS, strict=True):
        counts = data.counts[key]
        ax.set_title(LABELS[key], loc="left", fontsize=10)
        if not counts.any():
            _note(ax, f"no {LABELS[key]} values")
            continue
        drew = True
        _shade_window(ax, analysis)
        twin = ax.twinx()
        twin.stairs(counts, data.edges_s, fill=True, color="#e0e0e0", zorder=0, label="requests per bucket")
        twin.set_ylabel("requests\nper bucket", color="#777", fontsize=8)
        twin.tick_params(axis="y", colors="#777", labelsize=8)
        twin.set_ylim(0, max(int(counts.max()), 1) * 3.0)  # the bars stay in the lower third
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        top = 0.0
        for q in series.LATENCY_QUANTILES:
            label = f"p{q:g}"
            values, sparse = data.values[key][q], data.sparse[key][q]
            solid = np.where(sparse, np.nan, values)
            ax.plot(centers, solid, color=COLORS[label], lw=1.5, marker="o", ms=3, label=label)
            ax.plot(centers[sparse], values[sparse], "o", mfc="none", color=COLORS[label], ms=5)
            if np.isfinite(values).any():
                top = max(top, float(np.nanmax(values)))
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
        ax.set_ylabel(_axis_label(key))
        ax.grid(True, alpha=0.3)
        handles, names = ax.get_legend_handles_labels()
        hollow = Line2D([], [], marker="o", mfc="none", color="#555", ls="none", ms=5)
        ax.legend(
            [*handles, hollow],
            [*names, "too few requests\nfor that percentile"],
            loc="upper left",
            bbox_to_anchor=(1.07, 1.0),
            fontsize=7,
        )  # outside the axes: hides no line
    axes[-1].set_xlim(0, data.edges_s[-1])
    axes[-1].set_xlabel("time since run start (s)")
    if not drew:
        return _message("Latency percentiles over time", "no successful request: no latency to plot")
    return fig


def throughput_over_time(analysis: Analysis) -> Figure:
    """Requests/s by completion with requests in flight; output tokens/s by the arrival of their chunks."""
    if not len(analysis.frame):
        return _message("Throughput over time", "no records")
    ts = analysis.timeseries
    run_end = _run_end(analysis)
    fig, (ax_req, ax_tok) = _figure(2, 1, row_height=2.7, sharex=True)
    fig.suptitle("Throughput over time")
    x = ts["second"].to_numpy()
    edges = np.append(x, x[-1] + 1) if x.size else np.array([0.0, 1.0])
    _shade_window(ax_req, analysis)
    ax_req.stairs(ts["requests_per_s"], edges, color="#1f77b4", label="successful req/s", lw=1.5)
    ax_req.stairs(ts["requests"] - ts["requests_per_s"], edges, color="#d62728", label="failed req/s")
    ax_req.set_ylabel("requests/s\n(by end time)")
    ax_req.set_ylim(0, _headroom(ts["requests"]))
    ax_req.grid(True, alpha=0.3)
    twin = ax_req.twinx()
    twin.plot(x + 0.5, ts["in_flight"], color="#616161", ls="--", lw=1, label="in flight (mean)")
    twin.set_ylabel("requests in flight")
    twin.set_ylim(0, _headroom(ts["in_flight"]))
    h1, l1 = ax_req.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax_req.legend(h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(1.07, 1.0), fontsize=8)
    width = 1.0 if run_end <= 600 else float(next(w for w in series.WIDTHS_S if run_end / w <= 600))
    tok_edges, tok = series.tokens_over_time(analysis.frame, analysis.counted, run_end, width_s=width)
    _shade_window(ax_tok, analysis)
    ax_tok.stairs(tok, tok_edges, color="#9467bd", lw=1.5, label="output tokens/s")
    ax_tok.set_ylabel("output tokens/s\n(as chunks arrived)")
    ax_tok.set_ylim(0, _headroom(tok))
    ax_tok.set_xlabel("time since run start (s)")
    ax_tok.grid(True, alpha=0.3)
    ax_tok.legend(loc="upper left", bbox_to_anchor=(1.07, 1.0), fontsize=8)
    ax_tok.set_xlim(0, max(float(edges[-1]), float(tok_edges[-1])))
    return fig


def _headroom(values: Any) -> float:
    """An upper y limit 15 % above the data."""
    arr = np.asarray(values, dtype=float)
    top = float(np.nanmax(arr)) if arr.size and np.isfinite(arr).any() else 0.0
    return top * 1.15 if top > 0 else 1.0


def errors_over_time(analysis: Analysis) -> Figure:
    """Failed requests per time bucket, stacked by error kind and HTTP status."""
    title = "Errors over time"
    n = len(analysis.frame)
    if n == 0:
        return _message(title, "no records")
    data = series.errors_over_time(analysis.frame, analysis.counted, _run_end(analysis))
    if not data.series:
        return _message(title, f"no failed request: all {int(analysis.counted.sum()):,} requests succeeded")
    fig, axes = _figure(1, 1, row_height=3.0)
    ax = axes[0]
    total = sum(int(v.sum()) for v in data.series.values())
    fig.suptitle(
        f"{title} ({total:,} failed, {data.width_s:g} s buckets by end time, by kind and HTTP status)"
    )
    _shade_window(ax, analysis)
    bottom = np.zeros(data.edges_s.size - 1)
    palette = ["#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f", "#9467bd"]
    for i, ((kind, status), counts) in enumerate(data.series.items()):
        label = f"{kind}, HTTP {status}" if status else f"{kind}, no status"
        # One filled staircase per series (not a bar per bucket): stacked on the series below it.
        ax.stairs(
            bottom + counts,
            data.edges_s,
            baseline=bottom.copy(),
            fill=True,
            color=palette[i % len(palette)],
            label=f"{label} ({int(counts.sum()):,})",
        )
        bottom = bottom + counts
    ax.set_ylabel(f"failed requests per {data.width_s:g} s")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time since run start (s)")
    ax.set_xlim(0, data.edges_s[-1])
    ax.set_ylim(0, max(float(bottom.max()), 1.0) * 1.15)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def lengths(analysis: Analysis) -> Figure:
    """Histograms of prompt length and output length (tokens), successful requests in the window."""
    df = analysis.frame.df
    ok = analysis.in_window & df["ok"].to_numpy()
    fig, axes = _figure(1, 2, row_height=3.0)
    fig.suptitle(f"Prompt and output lengths ({_window_label(analysis)}, successful requests)")
    for ax, column, label in (
        (axes[0], "prompt_tokens", "prompt length (tokens)"),
        (axes[1], "output_tokens", "output length (tokens)"),
    ):
        values = df[column].to_numpy(dtype=np.float64)[ok]
        values = values[np.isfinite(values)]
        if values.size == 0:
            _note(ax, f"no {label}")
            continue
        lo, hi = float(values.min()), float(values.max())
        bins = int(min(60, max(5, np.sqrt(values.size)))) if hi > lo else 1
        ax.hist(values, bins=bins, range=(0, hi * 1.02) if hi > 0 else None, color="#1f77b4", alpha=0.85)
        mean, p50 = float(values.mean()), float(np.percentile(values, 50))
        ax.axvline(p50, color=COLORS["p50"], ls=":", lw=1.2)
        ax.set_title(f"{label}: n = {values.size:,}, median {p50:,.0f}, mean {mean:,.1f}", fontsize=9)
        ax.set_xlabel(label)
        ax.set_ylabel("requests")
        ax.set_xlim(left=0)
        ax.grid(True, axis="y", alpha=0.3)
    token_note = analysis.summary.notes
    if any("counted output tokens from chunks" in n for n in token_note):
        axes[1].text(
            0.98,
            0.95,
            "some counts are chunk estimates",
            transform=axes[1].transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color="#555",
        )
    return fig


def ttft_vs_prompt_length(analysis: Analysis) -> Figure:
    """TTFT against prompt tokens (sampled points, and the median per prompt-length bin)."""
    df = analysis.frame.df
    mask = analysis.in_window & df["ok"].to_numpy() & df["stream"].to_numpy()
    x = df["prompt_tokens"].to_numpy()[mask]
    y = df["ttft_ms"].to_numpy()[mask]
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    title = f"TTFT against prompt length ({_window_label(analysis)})"
    if x.size == 0:
        return _message(title, "no successful streamed request with a prompt token count")
    fig, axes = _figure(1, 1, row_height=3.4)
    ax = axes[0]
    fig.suptitle(title)
    if x.size > MAX_SCATTER:
        pick = np.random.default_rng(0).choice(x.size, MAX_SCATTER, replace=False)
        sx, sy = x[pick], y[pick]
    else:
        sx, sy = x, y
    ax.scatter(sx, sy, s=6, alpha=0.35, color="#1f77b4", label=f"requests ({sx.size:,} shown of {x.size:,})")
    if np.unique(x).size > 1:
        edges = np.unique(np.quantile(x, np.linspace(0, 1, 11)))
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        centers, medians = [], []
        for b in range(edges.size - 1):
            sel = idx == b
            if sel.sum() >= min_samples(50):
                centers.append(float(np.median(x[sel])))
                medians.append(float(np.percentile(y[sel], 50)))
        if centers:
            ax.plot(centers, medians, color="#d62728", marker="o", label="median per length bin (n ≥ 10)")
    ax.set_xlabel("prompt length (tokens)")
    ax.set_ylabel("TTFT (ms)")
    ax.set_xlim(left=0)
    ax.set_ylim(0, float(y.max()) * 1.1 if y.max() > 0 else 1.0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def itl_by_position(analysis: Analysis) -> Figure:
    """Chunk gap (ITL) p50/p95 against the gap's position in the answer: does decoding slow as it grows?"""
    title = "ITL against position in the answer"
    prof = series.itl_by_position(analysis.frame, analysis.in_window)
    if prof.answers == 0:
        return _message(title, "no successful streamed answer with two chunks or more")
    fig, axes = _figure(1, 1, row_height=3.2)
    ax = axes[0]
    sample = (
        f"{prof.answers:,} answers sampled of {prof.of_answers:,}"
        if prof.answers < prof.of_answers
        else f"{prof.answers:,} answers"
    )
    fig.suptitle(f"{title} ({_window_label(analysis)}, {sample})")
    mid = (prof.lo + prof.hi) / 2
    enough50 = prof.counts >= min_samples(50)
    enough95 = prof.counts >= min_samples(95)
    ax.plot(mid[enough50], prof.p50[enough50], "o-", color=COLORS["p50"], ms=3, label="p50")
    ax.plot(mid[enough95], prof.p95[enough95], "o-", color=COLORS["p95"], ms=3, label="p95")
    if (~enough95).any():
        ax.plot(
            mid[~enough95],
            prof.p95[~enough95],
            "o",
            mfc="none",
            color=COLORS["p95"],
            ms=5,
            label="p95 (too few gaps)",
        )
    ax.set_xlabel("position of the gap in the answer (1 = before the 2nd chunk)")
    ax.set_ylabel("ITL (ms)")
    ax.set_xlim(0, float(prof.hi.max()) + 1)
    top = float(np.nanmax(prof.p95)) if np.isfinite(prof.p95).any() else 0.0
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)  # every gap 0: chunks that came in one read
    ax.grid(True, alpha=0.3)
    twin = ax.twinx()
    twin.bar(mid, prof.counts, width=np.maximum(prof.hi - prof.lo + 1, 1) * 0.9, color="#e0e0e0", zorder=0)
    twin.set_ylabel("gaps per bin", color="#777", fontsize=8)
    twin.tick_params(axis="y", colors="#777", labelsize=8)
    twin.set_ylim(0, max(int(prof.counts.max()), 1) * 3.0)
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.07, 1.0), fontsize=8)
    return fig


def breakdown(analysis: Analysis) -> Figure:
    """Per value of each dimension that varied: latency p50/p95 with n and 95 % intervals, and output length."""
    groups = analysis.summary.breakdowns
    if not groups:
        return _message(
            "Breakdown by parameter",
            "nothing varied: one scenario, one prompt set, one stream mode and fixed sampling values",
        )
    # Fixed margins (not the constrained layout, which costs more than the drawing for ten axes); the
    # gap between the two columns holds the left column's legends.
    fig, axes = _figure(len(groups), 2, row_height=2.9, layout=None)
    height = fig.get_figheight()
    fig.subplots_adjust(
        left=0.07, right=0.98, top=1 - 0.95 / height, bottom=0.75 / height, wspace=0.62, hspace=0.75
    )
    fig.suptitle(
        f"Breakdown by parameter ({_window_label(analysis)}; successful requests; bars: 95 % intervals; "
        "hatched: too few requests to judge)"
    )
    for i, (column, rows) in enumerate(groups.items()):
        ax_lat, ax_tok = axes[2 * i], axes[2 * i + 1]
        metric = "ttft_ms" if any(_group_n(r, "ttft_ms") for r in rows) and column != "stream" else "e2e_ms"
        if not any(_group_n(r, metric) for r in rows):
            failed = sum(r.failed for r in rows)
            _note(ax_lat, f"{column}: no successful request in any group ({failed:,} failed)")
            _note(ax_tok, "no output tokens to compare")
            continue
        labels = [f"{r.value}\nn = {_group_n(r, metric):,}" for r in rows]
        pos = np.arange(len(rows))
        top = 0.0
        for offset, p in ((-0.2, "p50"), (0.2, "p95")):
            q = float(p[1:])
            groups_q = [r.latency.get(metric) for r in rows]
            values = np.array([_nan(g.p(q) if g is not None else None) for g in groups_q])
            n = np.array([g.n if g is not None else 0 for g in groups_q])
            judged = n >= min_samples(q)
            ci = [g.interval(q) if g is not None else None for g in groups_q]
            lo = np.array([values[j] - c[0] if c and judged[j] else 0.0 for j, c in enumerate(ci)])
            hi = np.array([c[1] - values[j] if c and judged[j] else 0.0 for j, c in enumerate(ci)])
            if judged.any():
                ax_lat.bar(
                    pos[judged] + offset,
                    values[judged],
                    width=0.4,
                    color=COLORS[p],
                    label=p,
                    yerr=np.vstack((lo[judged], hi[judged])),
                    capsize=3,
                    ecolor="#333",
                )
            if (~judged).any():
                ax_lat.bar(
                    pos[~judged] + offset,
                    np.nan_to_num(values[~judged]),
                    width=0.4,
                    color="white",
                    edgecolor=COLORS[p],
                    hatch="///",
                    label=f"{p}: n < {min_samples(q)}",
                )
            tops = values + hi
            if np.isfinite(tops).any():
                top = max(top, float(np.nanmax(tops)))
        ax_lat.set_xticks(pos, labels, rotation=20 if len(rows) > 4 else 0, fontsize=8)
        ax_lat.set_title(f"{LABELS[metric]} by {column}", loc="left", fontsize=10)
        ax_lat.set_ylabel(_axis_label(metric))
        ax_lat.set_ylim(0, top * 1.1 if top > 0 else 1.0)
        ax_lat.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax_lat.grid(True, axis="y", alpha=0.3)
        ax_tok.bar(pos, [_nan(r.output_tokens_mean) for r in rows], width=0.6, color="#9467bd")
        ax_tok.set_xticks(
            pos,
            [f"{r.value}\nn = {r.requests - r.failed:,}" for r in rows],
            rotation=20 if len(rows) > 4 else 0,
            fontsize=8,
        )
        ax_tok.set_title(f"output length by {column}", loc="left", fontsize=10)
        ax_tok.set_ylabel("output tokens (mean)")
        ax_tok.set_ylim(bottom=0)
        ax_tok.grid(True, axis="y", alpha=0.3)
    return fig


def _group_n(row: BreakdownRow, metric: str) -> int:
    """How many values the group's ``metric`` percentiles come from (0 when it has none)."""
    group = row.latency.get(metric)
    return group.n if group is not None else 0


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


PLOTS: Mapping[str, tuple[str, Callable[[Analysis], Figure]]] = {
    "latency_cdf": (
        "Latency CDFs, with the tail on a log scale (p99 and p99.9 read off the lower row)",
        latency_cdf,
    ),
    "percentiles_over_time": (
        "Latency percentiles over time, with the requests per bucket",
        percentiles_over_time,
    ),
    "throughput_over_time": (
        "Throughput over time (output tokens counted as their chunks arrived)",
        throughput_over_time,
    ),
    "errors_over_time": ("Errors over time, by kind and HTTP status", errors_over_time),
    "lengths": ("Prompt-length and output-length histograms", lengths),
    "ttft_vs_prompt_length": ("TTFT against prompt length", ttft_vs_prompt_length),
    "itl_by_position": ("ITL against position in the answer", itl_by_position),
    "breakdown": ("Breakdown by parameter, with n and 95 % intervals", breakdown),
}
"""File stem -> (caption, drawing function), in the order the report shows them."""
