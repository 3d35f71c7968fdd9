"""What ``chatbench capacity`` writes: ``capacity.json``, ``capacity.md``, ``capacity.html`` and PNG plots.

Plots (load on the x axis, SLO limits as dashed lines, the highest load within SLOs as a green line, the
saturation knee as a grey dotted line, the per-replica operating point of the plan as a purple line):
``capacity_latency.png`` (TTFT, TPOT and E2E at p50/p95/p99), ``capacity_throughput.png`` (requests/s
and goodput), ``capacity_errors.png`` (error rate).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import orjson
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.capacity.sweep import CapacityResult, replicas_text

__all__ = ["capacity_markdown", "format_capacity", "write_capacity_report"]

_COLORS = {"p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728"}
_LABELS = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "e2e_ms": "E2E"}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _headline(result: CapacityResult) -> list[str]:
    unit = result.unit
    lines = []
    limit = result.limit
    if limit is None:
        lines.append("Highest load within SLOs: no SLO set.")
    elif limit.level is None:
        lines.append(f"Highest load within SLOs: below the lowest level tested ({limit.note}).")
    else:
        prefix = "about" if limit.exact else "at least"
        binding = f"; the first SLO to break is `{limit.binding}`" if limit.binding else ""
        lines.append(f"Highest load within SLOs: {prefix} **{limit.level:.3g} {unit}**{binding}.")
    knee = result.knee
    if knee.level is not None:
        lines.append(
            f"Saturation knee: **{knee.level:g} {unit}** ({knee.throughput_rps:.2f} req/s); {knee.reason}."
        )
    else:
        lines.append(f"Saturation knee: not found ({knee.reason}).")
    if result.peak is not None and result.peak.throughput_rps is not None:
        lines.append(
            f"Peak throughput: {result.peak.throughput_rps:.2f} req/s at {result.peak.level:g} {unit}"
            f" ({result.peak.output_tokens_per_s or 0:.0f} output tokens/s)."
        )
    if result.stopped_early:
        lines.append(f"The sweep stopped early: {result.stopped_early}.")
    return lines


def _plan_lines(result: CapacityResult) -> list[str]:
    plan = result.plan
    if plan is None:
        return []
    unit = "users" if plan.unit == "users" else "req/s"
    source = {"slo": "the highest load within SLOs", "knee": "the saturation knee", "peak": "peak throughput"}
    lines = [
        f"**{replicas_text(plan)}.**",
        "",
        f"- replicas = ceil({plan.target:g} / ({plan.capacity_per_server:.3g} x (1 - {plan.headroom:g}))) "
        f"= ceil({plan.target / plan.usable_per_server:.3g}) = {plan.replicas}",
        f"- per-server capacity: {plan.capacity_per_server:.3g} {unit}, from "
        f"{source.get(plan.capacity_source, plan.capacity_source)} of this sweep",
        f"- each replica then carries {plan.load_per_replica:.3g} {unit}"
        + (
            f" (about {plan.level_per_replica:.3g} users)"
            if plan.unit == "rps" and result.settings.mode == "concurrency"
            else ""
        ),
        "- latency to expect there (interpolated from the measured steps): "
        + ", ".join(
            f"{_LABELS[m]} p50/p95/p99 {_ms(v.get('p50'))}/{_ms(v.get('p95'))}/{_ms(v.get('p99'))} ms"
            for m, v in plan.expected_latency_ms.items()
            if any(x is not None for x in v.values())
        ),
        f"- assumption: {plan.assumption}. Measure a second replica behind your balancer to confirm it.",
    ]
    return lines


def format_capacity(result: CapacityResult) -> str:
    """The terminal summary: headline figures and the replica plan."""
    lines = [f"capacity of {result.scenario} ({len(result.steps)} steps, {result.settings.mode} sweep):"]
    lines += ["  " + line.replace("**", "").replace("`", "") for line in _headline(result)]
    if result.plan is not None:
        lines.append("  " + replicas_text(result.plan))
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


def _step_table(result: CapacityResult) -> list[str]:
    unit = "users" if result.settings.mode == "concurrency" else "req/s"
    rows = [
        f"| step | load ({unit}) | requests | req/s | goodput req/s | tokens/s | errors | TTFT p50/p95/p99 ms | "
        "TPOT p50/p95/p99 ms | E2E p50/p95/p99 ms | SLOs |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for s in result.steps:

        def trio(metric: str, step=s) -> str:
            return "/".join(_ms(step.latency(metric, q)) for q in ("p50", "p95", "p99"))

        if s.checks:
            verdict = (
                "met" if s.meets_slo else "breached: " + ", ".join(c.name for c in s.checks if not c.passed)
            )
        else:
            verdict = "-"
        rows.append(
            f"| {s.index} | {s.level:g} | {s.requests} | {_num(s.throughput_rps)} | {_num(s.goodput_rps)} | "
            f"{_num(s.output_tokens_per_s, 0)} | {'n/a' if s.error_rate is None else f'{s.error_rate:.1%}'} | "
            f"{trio('ttft_ms')} | {trio('tpot_ms')} | {trio('e2e_ms')} | {verdict} |"
        )
    return rows


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def capacity_markdown(result: CapacityResult) -> str:
    """``capacity.md``."""
    s = result.settings
    slo = ", ".join(f"{t.metric}.{t.stat} <= {t.limit:g} ms" for t in result.slo.thresholds)
    if result.slo.error_rate is not None:
        slo = (slo + ", " if slo else "") + f"error rate <= {result.slo.error_rate:.2%}"
    lines = [
        f"# Capacity: {result.scenario}",
        "",
        f"{s.mode.capitalize()} sweep over {', '.join(f'{x:g}' for x in s.levels)} "
        f"({'users' if s.mode == 'concurrency' else 'req/s offered'}), {s.step_duration_s:g} s per step after "
        f"a {s.warmup_s:g} s warm-up. SLOs: {slo or 'none'}.",
        "",
        *[f"- {line}" for line in _headline(result)],
        "",
    ]
    if result.plan is not None:
        lines += ["## Replicas", "", *_plan_lines(result), ""]
    lines += ["## Steps", "", *_step_table(result), ""]
    lines += [
        "Throughput and error rate count the answers that ended after the warm-up; latencies those that "
        "also started after it. Goodput: successful requests meeting every per-request SLO limit, per second.",
    ]
    lines += [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _marks(ax: Axes, result: CapacityResult) -> None:
    if result.limit is not None and result.limit.level is not None:
        ax.axvline(
            result.limit.level, color="#2ca02c", lw=1.5, label=f"max within SLOs ({result.limit.level:.3g})"
        )
    if result.knee.level is not None:
        ax.axvline(result.knee.level, color="#7f7f7f", lw=1.2, ls=":", label=f"knee ({result.knee.level:g})")
    if result.plan is not None:
        ax.axvline(
            result.plan.level_per_replica,
            color="#9467bd",
            lw=1.2,
            ls="-.",
            label=f"per replica ({result.plan.level_per_replica:.3g})",
        )


def _xlabel(result: CapacityResult) -> str:
    return "concurrent users" if result.settings.mode == "concurrency" else "offered load (req/s)"


def _plot_latency(result: CapacityResult) -> Figure:
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    levels = [s.level for s in result.steps]
    for ax, metric in zip(axes, ("ttft_ms", "tpot_ms", "e2e_ms"), strict=True):
        for stat, color in _COLORS.items():
            ys = [s.latency(metric, stat) for s in result.steps]
            ax.plot(levels, [float("nan") if y is None else y for y in ys], "o-", color=color, label=stat)
        for t in result.slo.thresholds:
            if t.metric == metric:
                ax.axhline(
                    t.limit,
                    color=_COLORS.get(t.stat, "black"),
                    ls="--",
                    lw=1,
                    label=f"SLO {t.stat} {t.limit:g}",
                )
        _marks(ax, result)
        ax.set_title(f"{_LABELS[metric]} (ms)")
        ax.set_xlabel(_xlabel(result))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Latency against load")
    return fig


def _plot_throughput(result: CapacityResult) -> Figure:
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.subplots()
    levels = [s.level for s in result.steps]
    ax.plot(levels, [s.throughput_rps or 0 for s in result.steps], "o-", label="throughput (req/s)")
    if any(s.checks for s in result.steps):
        ax.plot(
            levels, [s.goodput_rps or 0 for s in result.steps], "s--", label="goodput (req/s within SLOs)"
        )
    if result.settings.mode == "rate":
        ax.plot(levels, levels, color="#bbbbbb", lw=1, label="offered")
    _marks(ax, result)
    ax.set_xlabel(_xlabel(result))
    ax.set_ylabel("requests per second")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle("Throughput against load")
    return fig


def _plot_errors(result: CapacityResult) -> Figure:
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.subplots()
    levels = [s.level for s in result.steps]
    ax.plot(
        levels, [100 * (s.error_rate or 0) for s in result.steps], "o-", color="#d62728", label="error rate"
    )
    if result.slo.error_rate is not None:
        ax.axhline(100 * result.slo.error_rate, color="#d62728", ls="--", lw=1, label="SLO")
    _marks(ax, result)
    ax.set_xlabel(_xlabel(result))
    ax.set_ylabel("failed requests (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle("Error rate against load")
    return fig


PLOTS = {
    "capacity_latency": _plot_latency,
    "capacity_throughput": _plot_throughput,
    "capacity_errors": _plot_errors,
}


def _html(result: CapacityResult, markdown: str, images: dict[str, Path]) -> str:
    """A self-contained page: the summary, the plots inline (base64 PNG), the step table."""
    body = [f"<h1>Capacity: {html.escape(result.scenario)}</h1>", "<ul>"]
    body += [f"<li>{_inline(line)}</li>" for line in _headline(result)]
    body.append("</ul>")
    if result.plan is not None:
        body.append("<h2>Replicas</h2><ul>")
        body += [f"<li>{_inline(line.lstrip('- '))}</li>" for line in _plan_lines(result) if line.strip()]
        body.append("</ul>")
    for name, path in images.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        body.append(f'<p><img alt="{name}" src="data:image/png;base64,{data}"></p>')
    body.append("<h2>Steps</h2>" + _table_html(_step_table(result)))
    body += [f"<p>{html.escape(n)}</p>" for n in result.notes]
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "img{max-width:100%}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>chatbench capacity: "
        f"{html.escape(result.scenario)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _inline(text: str) -> str:
    out = html.escape(text)
    for mark, tag in (("**", "b"), ("`", "code")):
        parts = out.split(mark)
        out = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(parts))
    return out


def _table_html(rows: list[str]) -> str:
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    head, body = cells[0], cells[2:]
    out = ["<table><tr>", *(f"<th>{html.escape(c)}</th>" for c in head), "</tr>"]
    for row in body:
        out += ["<tr>", *(f"<td>{html.escape(c)}</td>" for c in row), "</tr>"]
    out.append("</table>")
    return "".join(out)


def write_capacity_report(result: CapacityResult, out_dir: str | Path) -> dict[str, Path]:
    """Write capacity.json, capacity.md, the PNGs and capacity.html into ``out_dir``; returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, draw in PLOTS.items():
        fig = draw(result)
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        paths[name] = path
    markdown = capacity_markdown(result)
    paths["json"] = out / "capacity.json"
    paths["json"].write_bytes(
        orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    paths["markdown"] = out / "capacity.md"
    paths["markdown"].write_text(markdown, encoding="utf-8")
    paths["html"] = out / "capacity.html"
    paths["html"].write_text(_html(result, markdown, {k: paths[k] for k in PLOTS}), encoding="utf-8")
    return paths
