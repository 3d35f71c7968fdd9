"""The report's server-metrics part: the time-series panel, the table and the one note.

``server_metrics_part(analysis, run_dir)`` reads the run's ``server_metrics.*`` (nothing when the run
has none) and returns the ``server_metrics`` block for ``summary.json``, the note (a run whose server
had no ``/metrics`` gets exactly one) and the panel's figure. ``server_metrics_tables(summary)`` builds
the table from the summary, so ``chatbench report`` rebuilds it offline. Text from the server (names,
label values, help texts) reaches HTML and Markdown only through the renderers, which escape it.

The panel, on the run's time axis: client TTFT p50/p95 per second; client output tokens/s (by
completion, per second) with the server's generated tokens/s (the counter's increase between
scrapes); the server's running and waiting requests, with its KV-cache usage on the right axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bench.analysis.schema import Summary
from bench.analysis.summary import Analysis
from bench.numbers import DASH, fmt, pct
from bench.report.model import Table
from bench.servermetrics.analysis import ServerView, load_server_view, server_summary

__all__ = [
    "PANEL_CAPTION",
    "ServerMetricsPart",
    "capacity_server_table",
    "draw_panel",
    "server_metrics_part",
    "server_metrics_tables",
]

PANEL_CAPTION = "Server metrics under the client figures (same time axis)"


@dataclass(frozen=True)
class ServerMetricsPart:
    block: dict[str, Any]
    note: str | None
    figure: Figure | None


def server_metrics_part(analysis: Analysis, run_dir: Path) -> ServerMetricsPart | None:
    view = load_server_view(run_dir, analysis.frame.t0_s)
    if view is None:
        return None
    df = analysis.frame.df
    win = analysis.window
    block = server_summary(
        view,
        df["end_s"].to_numpy(dtype=float),
        df["output_tokens"].to_numpy(dtype=float),
        (win.start_s, win.end_s),
    )
    figure = draw_panel(analysis, view) if view.ok and view.server is not None else None
    return ServerMetricsPart(block, block["note"], figure)


def draw_panel(analysis: Analysis, view: ServerView) -> Figure:
    ts = analysis.timeseries
    sig = view.signals
    fig = Figure(figsize=(11.0, 9.0), layout="constrained")
    ax_ttft, ax_tok, ax_srv = fig.subplots(3, 1, sharex=True)
    server = view.server.name if view.server else "server"
    fig.suptitle(f"{server} metrics under the client's view")
    x = ts["second"].to_numpy(dtype=float) + 0.5
    for p, color in (("p50", "#1f77b4"), ("p95", "#ff7f0e")):
        ax_ttft.plot(x, ts[f"ttft_{p}_ms"].to_numpy(dtype=float), color=color, label=f"client TTFT {p}")
    ax_ttft.set_ylabel("TTFT (ms)")
    ax_ttft.legend(loc="upper left", fontsize=8)
    if np.isnan(ts["ttft_p50_ms"].to_numpy(dtype=float)).all():
        ax_ttft.text(0.5, 0.5, "no streamed request: no TTFT", ha="center", transform=ax_ttft.transAxes)
    edges = np.append(ts["second"].to_numpy(dtype=float), len(ts)) if len(ts) else np.array([0.0, 1.0])
    if len(ts):
        ax_tok.stairs(ts["output_tokens_per_s"], edges, color="#9467bd", label="client output tokens/s")
    if "generated_tokens" in sig and len(sig) > 1:
        t = sig.index.to_numpy(dtype=float)
        rate = np.diff(sig["generated_tokens"].to_numpy(dtype=float)) / np.diff(t)
        ax_tok.stairs(rate, t, color="#2ca02c", label="server generated tokens/s", linewidth=1.5)
    ax_tok.set_ylabel("tokens/s")
    ax_tok.legend(loc="upper left", fontsize=8)
    t = sig.index.to_numpy(dtype=float)
    for name, color, label in (("running", "#1f77b4", "running"), ("waiting", "#d62728", "waiting")):
        if name in sig:
            ax_srv.step(
                t, sig[name].to_numpy(dtype=float), where="post", color=color, label=f"requests {label}"
            )
    ax_srv.set_ylabel("requests")
    ax_srv.set_xlabel("time since run start (s)")
    handles, labels = ax_srv.get_legend_handles_labels()
    if "kv_usage" in sig:
        twin = ax_srv.twinx()
        twin.plot(t, sig["kv_usage"].to_numpy(dtype=float) * 100.0, color="#8c564b", linestyle="--")
        twin.set_ylabel("KV-cache usage (%)")
        twin.set_ylim(0, 105)
        handles, labels = handles + twin.lines[:1], [*labels, "KV-cache usage %"]
    else:
        ax_srv.set_title("the server exposes no KV-cache usage", loc="right", fontsize=9, color="#555555")
    ax_srv.legend(handles, labels, loc="upper left", fontsize=8)
    win = analysis.window
    for ax in (ax_ttft, ax_tok, ax_srv):
        ax.grid(True, alpha=0.3)
        if win.source != "whole_run" and win.duration_s > 0:
            ax.axvspan(win.start_s, win.end_s, color="#2ca02c", alpha=0.08)
    ax_srv.set_xlim(0, max(len(ts), float(t[-1]) if len(t) else 1.0))
    return fig


def server_metrics_tables(summary: Summary) -> list[Table]:
    """The "Server metrics" table (none when the run has no server-metrics block)."""
    block = summary.server_metrics
    if not block:
        return []
    failed = sum((block.get("scrapes_failed") or {}).values())
    rows: list[tuple[str, ...]] = [
        ("server", block.get("server") or "unknown", ""),
        ("scraped", str(block.get("url")), ""),
        ("scrapes ok / failed", f"{fmt(block.get('scrapes_ok'))} / {fmt(failed)}", ""),
    ]
    win = block.get("window") or {}
    sources = block.get("sources") or {}

    def src(signal: str) -> str:
        s = sources.get(signal)
        return f"{s['name']}: {s['help']}" if s else "not exposed"

    for name, label in (("running", "requests running"), ("waiting", "requests waiting")):
        v = win.get(name)
        rows.append(
            (f"{label} (mean / max)", f"{fmt(v['mean'], 2)} / {fmt(v['max'], 0)}" if v else DASH, src(name))
        )
    kv = win.get("kv_usage")
    rows.append(
        (
            "KV-cache usage (mean / peak)",
            f"{pct(kv['mean'], 1)} / {pct(kv['max'], 1)}" if kv else DASH,
            src("kv_usage"),
        )
    )
    rows.append(("preemptions", fmt(win.get("preemptions"), 0), src("preemptions")))
    rows.append(("prompt tokens", fmt(win.get("prompt_tokens"), 0), src("prompt_tokens")))
    rows.append(("generated tokens/s", fmt(win.get("generated_tokens_per_s"), 1), src("generated_tokens")))
    rows.append(("prefix-cache hit rate", pct(win.get("prefix_hit_rate"), 1), src("prefix_hit_rate")))
    tables = [
        Table(
            "Server metrics (steady window)",
            ("signal", "value", "read from (name: the server's help text)"),
            tuple(rows),
            "Gauges: mean and max over the scrapes in the window; counters: the increase over the window.",
        )
    ]
    tok = block.get("tokens")
    if tok:
        diff = tok["difference_pct"]
        verdict = (
            "no client tokens to compare"
            if diff is None
            else f"differ by {diff:+.2f} % (more than {tok['limit_pct']:g} %: check)"
            if tok["flagged"]
            else f"agree within {tok['limit_pct']:g} % ({diff:+.2f} %)"
        )
        tables.append(
            Table(
                "Server tokens against client tokens",
                ("", "server", "client"),
                (
                    ("generated / output tokens", fmt(tok["server_tokens"], 0), fmt(tok["client_tokens"], 0)),
                    ("tokens/s", fmt(tok["server_tokens_per_s"], 1), fmt(tok["client_tokens_per_s"], 1)),
                    ("span (s)", fmt(tok["span_s"], 1), fmt(tok["span_s"], 1)),
                    ("verdict", verdict, ""),
                ),
                "Over the scraped span (first scrape before the first request, last after the load stopped): "
                "the server's generated-token counter increase against the sum of the records' output tokens. "
                "Other clients of the same server, estimated client counts or a counter updated only when a "
                "request finishes make them differ.",
            )
        )
    return tables


def capacity_server_table(steps: Sequence[Any], unit: str) -> Table | None:
    """Per capacity step, what the server showed over the step's measured window (None: no step has it).

    Mean waiting queue, peak KV usage, preemptions (counter increase over the window), mean requests
    running and the server's generated tokens/s.
    """
    if not any(getattr(s, "server", None) for s in steps):
        return None
    rows = []
    for s in steps:
        sig = s.server or {}
        running, waiting, kv = sig.get("running"), sig.get("waiting"), sig.get("kv_usage")
        rows.append(
            (
                str(s.index),
                f"{s.level:g}",
                fmt(running["mean"], 2) if running else DASH,
                fmt(waiting["mean"], 2) if waiting else DASH,
                fmt(waiting["max"], 0) if waiting else DASH,
                pct(kv["max"], 1) if kv else DASH,
                fmt(sig.get("preemptions"), 0),
                fmt(sig.get("generated_tokens_per_s"), 1),
            )
        )
    return Table(
        "Server signals per step",
        (
            "step",
            f"load ({unit})",
            "running (mean)",
            "waiting (mean)",
            "waiting (max)",
            "KV usage (peak)",
            "preemptions",
            "server generated tokens/s",
        ),
        tuple(rows),
        "Over each step's measured window (after its warm-up), from the server's /metrics; "
        "a dash: the server does not expose that signal, or no scrape of it succeeded.",
    )
