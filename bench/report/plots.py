"""The report's plots, as PNG files. matplotlib on the Agg renderer, no pyplot state.

Figures are ``matplotlib.figure.Figure`` objects made directly (not through pyplot), so nothing is
kept in a global registry and no window can open; each is dropped after ``savefig``. Plots of a
million requests stay fast because they draw summaries (1,001 quantiles for a CDF, at most
``MAX_SCATTER`` sampled points for a scatter), never every point. A plot without data is still
written, with a sentence saying why it is empty, so the report never shows a blank frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.analysis.metrics import latency_values
from bench.analysis.summary import Analysis

__all__ = ["PLOTS", "write_plots"]

MAX_SCATTER = 20_000
DPI = 100
COLORS = {"p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728"}
LATENCY_LABELS = {"ttft": "TTFT", "tpot": "TPOT", "e2e": "E2E"}


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
    rows: int = 1, cols: int = 1, *, width: float = 11.0, row_height: float = 3.4
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width, 0.8 + row_height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _note(ax: Axes, text: str) -> None:
    """Say on the axes why there is nothing to draw."""
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=11,
        color="#555555",
        wrap=True,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _shade_window(ax: Axes, analysis: Analysis) -> None:
    win = analysis.window
    if win.source != "whole_run" and win.duration_s > 0:
        ax.axvspan(win.start_s, win.end_s, color="#2ca02c", alpha=0.08, label="steady window")


def latency_cdf(analysis: Analysis) -> Figure:
    """Cumulative distribution of TTFT, TPOT and E2E (successful requests in the window)."""
    values = latency_values(analysis.frame, analysis.in_window, ("ttft", "tpot", "e2e"))
    fig, axes = _figure(1, 3, row_height=3.6)
    fig.suptitle(f"Latency CDFs ({_window_label(analysis)}, successful requests)")
    for ax, key in zip(axes, ("ttft", "tpot", "e2e"), strict=True):
        data = values[key]
        label = LATENCY_LABELS[key]
        ax.set_title(f"{label} (n = {data.size:,})")
        if data.size == 0:
            _note(
                ax,
                f"no {label} values\n(no successful streamed request)"
                if key != "e2e"
                else "no successful request",
            )
            continue
        qs = np.linspace(0, 100, 1001)
        xs = np.percentile(data, qs, method="linear")
        ax.plot(xs, qs / 100, color="#1f77b4", drawstyle="steps-post" if data.size < 50 else "default")
        for p in ("p50", "p95", "p99"):
            x = float(np.percentile(data, float(p[1:]), method="linear"))
            ax.axvline(x, color=COLORS[p], linestyle=":", linewidth=1.2, label=f"{p} {x:,.1f} ms")
        if xs[0] > 0 and xs[-1] / xs[0] > 30:
            ax.set_xscale("log")
        ax.set_xlabel(f"{label} (ms)")
        ax.set_ylabel("fraction of requests ≤ x")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return fig


def percentiles_over_time(analysis: Analysis) -> Figure:
    """p50/p95/p99 of TTFT, TPOT and E2E per second of the run (by the second a request ended)."""
    ts = analysis.timeseries
    fig, axes = _figure(3, 1, row_height=2.6)
    fig.suptitle("Latency percentiles over time (successful requests, per second)")
    for ax, key in zip(axes, ("ttft", "tpot", "e2e"), strict=True):
        label = LATENCY_LABELS[key]
        cols = {p: ts[f"{key}_{p}_ms"].to_numpy(dtype=float) for p in ("p50", "p95", "p99")}
        ax.set_title(label, loc="left", fontsize=10)
        if all(np.isnan(v).all() for v in cols.values()):
            _note(ax, f"no {label} values to plot")
            continue
        _shade_window(ax, analysis)
        for p, v in cols.items():
            # A bucket holds the requests that ended in [k, k + 1): draw it at its middle.
            ax.plot(ts["second"] + 0.5, v, color=COLORS[p], label=p, marker="." if len(ts) < 30 else None)
        ax.set_ylabel(f"{label} (ms)")
        ax.set_xlim(0, max(len(ts), 1))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)  # outside: hides no line
    axes[-1].set_xlabel("time since run start (s)")
    return fig


def throughput_over_time(analysis: Analysis) -> Figure:
    """Successful requests/s with requests in flight, and output tokens/s, per second."""
    ts = analysis.timeseries
    fig, (ax_req, ax_tok) = _figure(2, 1, row_height=2.8)
    fig.suptitle("Throughput over time (per second, by completion)")
    if not len(analysis.frame):
        _note(ax_req, "no records")
        _note(ax_tok, "no records")
        return fig
    x = ts["second"].to_numpy()
    edges = np.append(x, x[-1] + 1) if x.size else np.array([0.0, 1.0])
    _shade_window(ax_req, analysis)
    # stairs: each value covers its whole second, so a one-second run still shows a bar.
    ax_req.stairs(ts["requests_per_s"], edges, color="#1f77b4", label="successful req/s", linewidth=1.5)
    ax_req.stairs(ts["requests"] - ts["requests_per_s"], edges, color="#d62728", label="failed req/s")
    ax_req.set_ylabel("requests/s")
    ax_req.grid(True, alpha=0.3)
    twin = ax_req.twinx()
    twin.plot(
        x + 0.5,
        ts["in_flight"],
        color="#7f7f7f",
        linestyle="--",
        marker="." if x.size < 30 else None,
        label="in flight (mean)",
    )
    twin.set_ylabel("requests in flight")
    twin.set_ylim(0, _headroom(ts["in_flight"]))
    handles = ax_req.get_legend_handles_labels()
    twin_handles = twin.get_legend_handles_labels()
    ax_req.legend(
        handles[0] + twin_handles[0], handles[1] + twin_handles[1], loc="upper left", fontsize=8, ncols=4
    )
    if not analysis.frame.df["ok"].any():
        _note(ax_tok, "no successful request: no output tokens")
        ax_req.set_xlim(0, max(len(ts), 1))
        return fig
    _shade_window(ax_tok, analysis)
    ax_tok.stairs(ts["output_tokens_per_s"], edges, color="#9467bd", linewidth=1.5)
    ax_tok.set_ylabel("output tokens/s")
    ax_tok.set_xlabel("time since run start (s)")
    ax_tok.grid(True, alpha=0.3)
    ax_req.set_ylim(0, _headroom(ts["requests"]))
    ax_tok.set_ylim(0, _headroom(ts["output_tokens_per_s"]))
    for ax in (ax_req, ax_tok):
        ax.set_xlim(0, max(len(ts), 1))
    return fig


def _headroom(values: Any) -> float:
    """An upper y limit 30 % above the data, so a legend in the top corner hides nothing."""
    top = float(np.nanmax(np.asarray(values, dtype=float))) if len(values) else 0.0
    return top * 1.3 if np.isfinite(top) and top > 0 else 1.0


def errors_over_time(analysis: Analysis) -> Figure:
    """Error rate (%) per second, and failed requests per second."""
    ts = analysis.timeseries
    fig, axes = _figure(1, 1, row_height=3.2)
    ax = axes[0]
    fig.suptitle("Errors over time (per second, by completion)")
    failed = int(ts["failed"].sum()) if len(ts) else 0
    if not len(analysis.frame):
        _note(ax, "no records")
        return fig
    if failed == 0:
        _note(ax, f"no failed request ({len(analysis.frame):,} requests, all successful)")
        return fig
    x = ts["second"].to_numpy()
    _shade_window(ax, analysis)
    edges = np.append(x, x[-1] + 1)
    ax.stairs(ts["failed"], edges, fill=True, color="#d62728", alpha=0.35, label="failed requests")
    ax.set_ylabel("failed requests per second")
    ax.set_xlabel("time since run start (s)")
    twin = ax.twinx()
    twin.plot(
        x + 0.5,
        ts["error_rate"] * 100,
        color="#d62728",
        marker="." if len(ts) < 60 else None,
        label="error rate",
    )
    twin.set_ylabel("error rate (% of requests ended)")
    peak = float(np.nanmax(ts["error_rate"].to_numpy(dtype=float))) * 100
    twin.set_ylim(0, min(105.0, max(peak * 1.25, 1.0)))
    ax.set_xlim(0, max(len(ts), 1))
    ax.grid(True, alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    return fig


def ttft_vs_prompt_length(analysis: Analysis) -> Figure:
    """TTFT against prompt tokens (sampled points, and the median per prompt-length bin)."""
    df = analysis.frame.df
    mask = analysis.in_window & df["ok"].to_numpy() & df["stream"].to_numpy()
    x = df["prompt_tokens"].to_numpy()[mask]
    y = df["ttft_ms"].to_numpy()[mask]
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    fig, axes = _figure(1, 1, row_height=3.6)
    ax = axes[0]
    fig.suptitle(f"TTFT against prompt length ({_window_label(analysis)})")
    if x.size == 0:
        _note(ax, "no successful streamed request with a prompt token count")
        return fig
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
            if sel.any():
                centers.append(float(np.median(x[sel])))
                medians.append(float(np.percentile(y[sel], 50, method="linear")))
        ax.plot(centers, medians, color="#d62728", marker="o", label="median per length bin")
    ax.set_xlabel("prompt length (tokens)")
    ax.set_ylabel("TTFT (ms)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def breakdown(analysis: Analysis) -> Figure:
    """For each dimension that varied: E2E/TTFT p50 and p95 per value, and mean output tokens per value."""
    groups: Mapping[str, list[dict[str, Any]]] = analysis.summary["breakdowns"]
    if not groups:
        fig, axes = _figure(1, 1, row_height=2.0)
        fig.suptitle("Breakdown by parameter")
        _note(
            axes[0], "nothing varied: one scenario, one prompt set, one stream mode and fixed sampling values"
        )
        return fig
    fig, axes = _figure(len(groups), 2, row_height=2.8)
    fig.suptitle(f"Breakdown by parameter ({_window_label(analysis)}; successful requests)")
    for i, (column, rows) in enumerate(groups.items()):
        ax_lat, ax_tok = axes[2 * i], axes[2 * i + 1]
        labels = [f"{r['value']}\n({r['failed']} failed)" if r["failed"] else r["value"] for r in rows]
        pos = np.arange(len(rows))
        metric = "ttft" if any(r["ttft_p50_ms"] is not None for r in rows) and column != "stream" else "e2e"
        p50 = [_nan(r[f"{metric}_p50_ms"]) for r in rows]
        p95 = [_nan(r[f"{metric}_p95_ms"]) for r in rows]
        if all(r["e2e_p50_ms"] is None for r in rows):
            failed = sum(r["failed"] for r in rows)
            _note(ax_lat, f"{column}: no successful request in any group ({failed:,} failed)")
            _note(ax_tok, "no output tokens to compare")
            continue
        ax_lat.bar(pos - 0.2, p50, width=0.4, color=COLORS["p50"], label="p50")
        ax_lat.bar(pos + 0.2, p95, width=0.4, color=COLORS["p95"], label="p95")
        ax_lat.set_xticks(pos, labels, rotation=20 if len(rows) > 4 else 0, fontsize=8)
        ax_lat.set_title(f"{LATENCY_LABELS[metric]} by {column}", loc="left", fontsize=10)
        ax_lat.set_ylabel(f"{LATENCY_LABELS[metric]} (ms)")
        top = np.nanmax([*p50, *p95])
        if np.isfinite(top) and top > 0:
            ax_lat.set_ylim(0, top * 1.3)  # headroom, so the legend never hides a bar
        ax_lat.legend(fontsize=8, loc="upper right", ncols=2)
        ax_lat.grid(True, axis="y", alpha=0.3)
        ax_tok.bar(pos, [_nan(r["output_tokens_mean"]) for r in rows], width=0.6, color="#9467bd")
        ax_tok.set_xticks(pos, labels, rotation=20 if len(rows) > 4 else 0, fontsize=8)
        ax_tok.set_title(f"output length by {column}", loc="left", fontsize=10)
        ax_tok.set_ylabel("output tokens (mean)")
        ax_tok.grid(True, axis="y", alpha=0.3)
    return fig


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _window_label(analysis: Analysis) -> str:
    win = analysis.window
    if win.source == "whole_run":
        return "whole run"
    return f"window {win.start_s:.0f}–{win.end_s:.0f} s"


PLOTS: Mapping[str, tuple[str, Callable[[Analysis], Figure]]] = {
    "latency_cdf": ("Latency CDFs", latency_cdf),
    "percentiles_over_time": ("Latency percentiles over time", percentiles_over_time),
    "throughput_over_time": ("Throughput over time", throughput_over_time),
    "errors_over_time": ("Errors over time", errors_over_time),
    "ttft_vs_prompt_length": ("TTFT against prompt length", ttft_vs_prompt_length),
    "breakdown": ("Breakdown by parameter", breakdown),
}
"""File stem -> (caption, drawing function), in the order the report shows them."""
