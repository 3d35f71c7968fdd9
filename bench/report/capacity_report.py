"""What ``chatbench capacity`` writes: ``capacity.json``, ``capacity.md``, ``capacity.html`` and PNG plots.

The page (one ``bench.report.model.Page``, rendered by the report's one HTML template and Markdown
writer) reads in this order:

1. **Capacity**: the headline is the conservative figure (the highest measured step that met every
   SLO, never one past the saturation knee), the interpolated figure beside it, labelled, and replicas
   for both with the assumption they rest on;
2. **Setup**: target, model, sweep levels and durations, SLOs, planning target;
3. **Plots**: latency against load, throughput against load, error rate against load, latency
   against throughput, and the Pareto view (per-user tokens/s against server tokens/s);
4. **Tables**: the steps (each SLO met, breached or *not judged*), the replica arithmetic.

Plots keep lines and legends apart: the region past the knee is shaded rather than drawn as a line, the
two capacity figures are vertical lines of one colour (solid: headline, dashed: interpolated), the
per-replica operating point is a marker on the x axis, and each figure has one legend below its axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure

from bench import metrics
from bench.analysis.frames import load_json
from bench.numbers import DASH, fmt, pct
from bench.report.html import render_html
from bench.report.markdown import render_markdown
from bench.report.model import Facts, Figure, Headline, Page, Section, Table, Text
from bench.report.server_metrics import capacity_server_table
from bench.stats import min_samples

if TYPE_CHECKING:  # the writer reads capacity's results; it does not run (or import) the sweep
    from bench.capacity.plan import Plan, StepResult
    from bench.capacity.sweep import CapacityResult

__all__ = ["capacity_page", "format_capacity", "write_capacity_report"]

COLORS = {"p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728"}
LABELS = {m.name: m.label for m in metrics.all_metrics()}
UNITS = {m.name: m.unit for m in metrics.all_metrics()}
TIMED = tuple(m.name for m in metrics.all_metrics(kind="latency") if m.per_second)
"""The latencies of the step table, the plan and the plots (TTFT, TPOT, E2E), from ``bench.metrics``."""
CAPACITY_COLOR = "#2e7d32"
OPERATING_COLOR = "#7b1fa2"
KNEE_SHADE = "#bdbdbd"


def _unit(result: CapacityResult) -> str:
    return "users" if result.settings.mode == "concurrency" else "req/s"


def _level(result: CapacityResult, level: float | None, digits: int = 3) -> str:
    if level is None:
        return DASH
    return f"{level:.{digits}g} {_unit(result)}"


def headline_items(result: CapacityResult) -> tuple[tuple[str, str, str], ...]:
    """Capacity (conservative, the headline), the interpolated figure beside it, replicas for both."""
    items: list[tuple[str, str, str]] = []
    cap = result.capacity
    limit = result.limit
    items.append(
        (
            "capacity per server (headline)",
            _level(result, cap.level if cap else None),
            cap.reason if cap else "no capacity found",
        )
    )
    if limit is not None and limit.exact and limit.level is not None:
        past = result.knee.level is not None and limit.level > result.knee.level
        items.append(
            (
                "interpolated (optimistic)" if past else "interpolated",
                f"about {_level(result, limit.level)}",
                f"where {limit.binding} reaches its limit, linear between two steps"
                + ("; past the knee" if past else ""),
            )
        )
    plans: list[tuple[str, Plan]] = []
    if result.plan is not None:
        plans.append(("replicas (headline)", result.plan))
    if result.interpolated_plan is not None:
        plans.append(("replicas (interpolated)", result.interpolated_plan))
    for label, plan in plans:
        unit = "users" if plan.unit == "users" else "req/s"
        items.append(
            (
                label,
                fmt(plan.replicas),
                f"for {plan.target:g} {unit} at {pct(plan.headroom, 0)} headroom, "
                f"{plan.capacity_per_server:.3g} {unit} per server; assumes linear scaling",
            )
        )
    knee = result.knee
    items.append(
        (
            "saturation knee",
            _level(result, knee.level, 4) if knee.level is not None else "not found",
            f"{knee.throughput_rps:,.2f} req/s there" if knee.throughput_rps is not None else knee.reason,
        )
    )
    if result.peak is not None and result.peak.throughput_rps is not None:
        items.append(
            (
                "peak throughput",
                f"{result.peak.throughput_rps:,.2f} req/s",
                f"at {_level(result, result.peak.level, 4)}, {fmt(result.peak.output_tokens_per_s, 0)} output tok/s",
            )
        )
    return tuple(items)


def _setup(result: CapacityResult, target: Mapping[str, Any]) -> Facts:
    s = result.settings
    slo = ", ".join(
        f"{t.metric}.{t.stat} ≤ {t.limit:g} {UNITS.get(t.metric, 'ms')}" for t in result.slo.thresholds
    )
    if result.slo.error_rate is not None:
        slo = (slo + ", " if slo else "") + f"error rate ≤ {pct(result.slo.error_rate)}"
    items = [
        ("target", target.get("url") or DASH),
        ("model", target.get("model") or DASH),
        ("API profile", target.get("profile") or DASH),
        (
            "sweep",
            f"{s.mode} ({'closed loop: concurrent users' if s.mode == 'concurrency' else 'open loop: arrivals per second'}), "
            f"levels {', '.join(f'{x:g}' for x in s.levels)}",
        ),
        (
            "each step",
            f"{s.warmup_s:g} s warm-up (left out), then {s.step_duration_s:g} s measured; a fresh run per step",
        ),
        (
            "steps run",
            f"{len(result.steps)} of {len(s.levels)}"
            + (f" (stopped: {result.stopped_early})" if result.stopped_early else ""),
        ),
        ("SLOs", slo or "none"),
        (
            "judging",
            f"a percentile SLO is judged on a step only from enough values (p95: {min_samples(95)}, "
            f"p99: {min_samples(99)}); with fewer the step is 'not judged' for it, never passed",
        ),
    ]
    if result.plan is not None:
        plan = result.plan
        unit = "users" if plan.unit == "users" else "req/s"
        items.append(("planning", f"target {plan.target:g} {unit}, headroom {pct(plan.headroom, 0)}"))
        items.append(("assumption", plan.assumption))
    return Facts(tuple(items))


def _step_table(result: CapacityResult) -> Table:
    rows = []
    for s in result.steps:

        def trio(metric: str, step: StepResult = s) -> str:
            return "/".join(fmt(step.latency(metric, q)) for q in ("p50", "p95", "p99"))

        if s.status == "breached":
            verdict = "breached: " + ", ".join(c.name for c in s.breaches)
        elif s.status == "not judged":
            verdict = "not judged: " + ", ".join(
                f"{c.name} (n = {c.samples} < {min_samples(float(c.stat[1:]))})" for c in s.unjudged if c.stat
            )
        else:
            verdict = s.status
        rows.append(
            (
                str(s.index),
                f"{s.level:g}",
                fmt(s.requests),
                fmt(s.throughput_rps, 2),
                fmt(s.goodput_rps, 2),
                fmt(s.output_tokens_per_s, 0),
                pct(s.error_rate, 1),
                *(trio(m) for m in TIMED),
                verdict,
            )
        )
    headers = (
        "step",
        f"load ({_unit(result)})",
        "requests",
        "req/s",
        "goodput req/s",
        "output tok/s",
        "errors",
        *(f"{LABELS[m]} p50/p95/p99 {UNITS[m]}" for m in TIMED),
        "SLOs",
    )
    note = (
        "Throughput and error rate count the answers that ended after the warm-up; latencies those that also "
        "started after it. Goodput: successful requests meeting every per-request SLO limit, per second."
    )
    return Table("Steps", headers, tuple(rows), note)


def _plan_table(result: CapacityResult) -> Table | None:
    plans: list[tuple[str, Plan]] = [
        (name, p) for name, p in (("headline", result.plan), ("interpolated", result.interpolated_plan)) if p
    ]
    if not plans:
        return None
    rows: list[tuple[str, ...]] = []

    def row(label: str, value_of: Any) -> None:
        rows.append((label, *(value_of(p) for _, p in plans)))

    unit = "users" if plans[0][1].unit == "users" else "req/s"
    row("capacity per server", lambda p: f"{p.capacity_per_server:.3g} {unit}")
    row(
        "usable with headroom",
        lambda p: f"{p.usable_per_server:.3g} {unit} ({pct(p.headroom, 0)} kept spare)",
    )
    row(
        "replicas",
        lambda p: f"ceil({p.target:g} / {p.usable_per_server:.3g}) = {p.replicas}",
    )
    row("load per replica", lambda p: f"{p.load_per_replica:.3g} {unit}")
    for metric in TIMED:
        row(
            f"expected {LABELS[metric]} p50 / p95 / p99 ({UNITS[metric]})",
            lambda p, m=metric: " / ".join(
                fmt(p.expected_latency_ms.get(m, {}).get(q)) for q in ("p50", "p95", "p99")
            ),
        )
    note = (
        "replicas = ceil(target / (capacity per server x (1 - headroom))). Expected latency: the measured "
        f"latency interpolated at the load per replica. Assumption: {plans[0][1].assumption}; measure a "
        "second replica behind your balancer to confirm it."
    )
    return Table("Replicas", ("", *(name for name, _ in plans)), tuple(rows), note)


def _target(result: CapacityResult) -> dict[str, str]:
    """Target URL, model and profile of the sweep, from its first step's run.json and scenario.json."""
    for step in result.steps:
        if not step.run_dir:
            continue
        info = load_json(Path(step.run_dir) / "run.json")
        scenario = load_json(Path(step.run_dir) / "scenario.json")
        target = scenario.get("target") or {}
        url = str(info.get("target_url") or target.get("base_url") or "")
        path = str(target.get("path") or "")
        if target and target.get("base_url") is None and url:
            url, path = "the embedded mock, one started for each step", f" ({path})" if path else ""
        if url or target:
            return {
                "url": url + path,
                "model": str(target.get("model") or ""),
                "profile": str(target.get("profile") or ""),
            }
    return {}


def capacity_page(result: CapacityResult, figures: Sequence[Figure]) -> Page:
    """The capacity report (module docstring)."""
    target = _target(result)
    subtitle = f"target {target['url']}" if target.get("url") else ""
    blocks: list[Any] = [Headline(headline_items(result))]
    if result.saturation:
        blocks.append(Text(f"Server at the knee: {result.saturation}."))
    blocks += [Text(n, "note") for n in result.notes]
    if result.stopped_early:
        blocks.append(Text(f"The sweep stopped early: {result.stopped_early}.", "note"))
    tables: list[Any] = [_step_table(result)]
    server_table = capacity_server_table(result.steps, _unit(result))
    if server_table is not None:
        tables.append(server_table)
    plan_table = _plan_table(result)
    if plan_table is not None:
        tables.append(plan_table)
    sections = (
        Section("capacity", "Capacity", tuple(blocks)),
        Section("setup", "Setup", (_setup(result, target),)),
        Section("plots", "Plots", tuple(figures)),
        Section("tables", "Tables", tuple(tables)),
    )
    return Page("capacity", result.scenario, subtitle, sections)


def format_capacity(result: CapacityResult) -> str:
    """The terminal summary: the headline figures and the replica plans."""
    lines = [f"capacity of {result.scenario} ({len(result.steps)} steps, {result.settings.mode} sweep):"]
    for label, value, context in headline_items(result):
        lines.append(f"  {label + ':':<32} {value}  ({context})")
    if result.saturation:
        lines.append(f"  {'server at the knee:':<32} {result.saturation}")
    if result.plan is not None:
        lines.append("  " + replicas_text(result.plan))
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


# --- plots --------------------------------------------------------------------------------------------


def replicas_text(plan: Plan) -> str:
    """One sentence: how many servers, at what load each."""
    unit = "users" if plan.unit == "users" else "req/s"
    basis = {"slo": "within the SLOs", "knee": "up to its saturation knee", "peak": "at peak throughput"}
    return (
        f"{plan.replicas} replica(s) for {plan.target:g} {unit} at {pct(plan.headroom, 0)} headroom "
        f"({plan.load_per_replica:.3g} {unit} each; one server holds {plan.capacity_per_server:.3g} {unit} "
        f"{basis.get(plan.capacity_source, '')}, {plan.usable_per_server:.3g} with headroom)"
    )


def _xlabel(result: CapacityResult) -> str:
    return "concurrent users" if result.settings.mode == "concurrency" else "offered load (req/s)"


def _marks(ax: Axes, result: CapacityResult) -> None:
    """The knee as a shaded region, the capacity figures as lines, the operating point as an axis marker."""
    knee = result.knee.level
    if knee is not None:
        top = max(s.level for s in result.steps)
        ax.axvspan(knee, top * 1.05, color=KNEE_SHADE, alpha=0.18, lw=0, label=f"past the knee ({knee:g})")
    cap = result.capacity
    if cap is not None and cap.level is not None:
        ax.axvline(cap.level, color=CAPACITY_COLOR, lw=2.0, label=f"capacity, headline ({cap.level:.3g})")
    limit = result.limit
    if (
        limit is not None
        and limit.exact
        and limit.level is not None
        and (cap is None or limit.level != cap.level)
    ):
        ax.axvline(
            limit.level, color=CAPACITY_COLOR, lw=1.2, ls="--", label=f"interpolated ({limit.level:.3g})"
        )
    if result.plan is not None:
        ax.plot(
            [result.plan.level_per_replica],
            [0],
            marker="^",
            ms=10,
            color=OPERATING_COLOR,
            ls="none",
            clip_on=False,
            zorder=5,
            label=f"per-replica load ({result.plan.level_per_replica:.3g})",
        )


def _legend_below(fig: MplFigure, axes: Sequence[Axes]) -> None:
    """One legend for the figure, under the axes: it never covers a line or a point."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(
            list(seen.values()), list(seen), loc="outside lower center", ncols=min(len(seen), 5), fontsize=8
        )


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _plot_latency(result: CapacityResult) -> MplFigure:
    fig = MplFigure(figsize=(12, 4.6), layout="constrained")
    axes = fig.subplots(1, len(TIMED))
    levels = [s.level for s in result.steps]
    for ax, metric in zip(axes, TIMED, strict=True):
        _marks(ax, result)
        for stat, color in COLORS.items():
            ys = [_nan(s.latency(metric, stat)) for s in result.steps]
            ax.plot(levels, ys, "o-", color=color, label=stat, ms=4)
        for t in result.slo.thresholds:
            if t.metric == metric:
                ax.axhline(
                    t.limit, color=COLORS.get(t.stat, "black"), ls=":", lw=1.2, label=f"SLO {t.stat} limit"
                )
        ax.set_title(f"{LABELS[metric]}", fontsize=10)
        ax.set_ylabel(f"{LABELS[metric]} ({UNITS[metric]})")
        ax.set_xlabel(_xlabel(result))
        ax.set_xlim(0, max(levels) * 1.05)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    _legend_below(fig, axes)
    fig.suptitle("Latency against load (p50, p95, p99 per step)")
    return fig


def _plot_throughput(result: CapacityResult) -> MplFigure:
    fig = MplFigure(figsize=(9, 4.4), layout="constrained")
    ax = fig.subplots()
    levels = [s.level for s in result.steps]
    _marks(ax, result)
    ax.plot(
        levels,
        [_nan(s.throughput_rps) for s in result.steps],
        "o-",
        color="#1f77b4",
        label="throughput (req/s)",
    )
    if any(s.checks for s in result.steps):
        ax.plot(
            levels,
            [_nan(s.goodput_rps) for s in result.steps],
            "s--",
            color="#ff7f0e",
            label="goodput (req/s within SLOs)",
        )
    if result.settings.mode == "rate":
        ax.plot(levels, levels, color="#bbbbbb", lw=1, label="offered")
    ax.set_xlabel(_xlabel(result))
    ax.set_ylabel("requests per second")
    ax.set_xlim(0, max(levels) * 1.05)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend_below(fig, [ax])
    fig.suptitle("Throughput against load")
    return fig


def _plot_errors(result: CapacityResult) -> MplFigure:
    fig = MplFigure(figsize=(9, 3.8), layout="constrained")
    ax = fig.subplots()
    levels = [s.level for s in result.steps]
    _marks(ax, result)
    ax.plot(
        levels, [100 * (s.error_rate or 0) for s in result.steps], "o-", color="#d62728", label="error rate"
    )
    if result.slo.error_rate is not None:
        ax.axhline(100 * result.slo.error_rate, color="#d62728", ls=":", lw=1.2, label="SLO limit")
    ax.set_xlabel(_xlabel(result))
    ax.set_ylabel("failed requests (%)")
    ax.set_xlim(0, max(levels) * 1.05)
    top = max([100 * (s.error_rate or 0) for s in result.steps] + [100 * (result.slo.error_rate or 0), 1.0])
    ax.set_ylim(0, top * 1.2)
    ax.grid(alpha=0.3)
    if not any(s.failed for s in result.steps):
        fig.set_figheight(2.6)
        ax.text(0.5, 0.6, "no failed request at any step", transform=ax.transAxes, ha="center", color="#555")
    _legend_below(fig, [ax])
    fig.suptitle("Error rate against load")
    return fig


def _annotate_levels(ax: Axes, xs: Sequence[float], ys: Sequence[float], steps: Sequence[StepResult]) -> None:
    for x, y, s in zip(xs, ys, steps, strict=True):
        if x == x and y == y:  # not NaN
            ax.annotate(
                f"{s.level:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color="#555"
            )


def _plot_latency_vs_throughput(result: CapacityResult) -> MplFigure:
    """TTFT and E2E p50/p95 against the throughput each step reached: the cost of more throughput."""
    fig = MplFigure(figsize=(12, 4.4), layout="constrained")
    axes = fig.subplots(1, 2)
    xs = [_nan(s.throughput_rps) for s in result.steps]
    for ax, metric in zip(axes, ("ttft_ms", "e2e_ms"), strict=True):
        for stat in ("p50", "p95"):
            ys = [_nan(s.latency(metric, stat)) for s in result.steps]
            ax.plot(xs, ys, "o-", color=COLORS[stat], label=stat, ms=4)
            if stat == "p95":
                _annotate_levels(ax, xs, ys, result.steps)
        for t in result.slo.thresholds:
            if t.metric == metric:
                ax.axhline(
                    t.limit, color=COLORS.get(t.stat, "black"), ls=":", lw=1.2, label=f"SLO {t.stat} limit"
                )
        ax.set_xlabel("throughput (successful req/s)")
        ax.set_ylabel(f"{LABELS[metric]} ({UNITS[metric]})")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.set_title(LABELS[metric], fontsize=10)
    _legend_below(fig, axes)
    fig.suptitle("Latency against throughput (labels: load level of each step)")
    return fig


def _plot_pareto(result: CapacityResult) -> MplFigure:
    """Per-user decode speed (1000 / TPOT p50, tokens/s) against the server's output tokens/s."""
    fig = MplFigure(figsize=(9, 4.6), layout="constrained")
    ax = fig.subplots()
    xs = [_nan(s.output_tokens_per_s) for s in result.steps]
    tpot = [s.latency("tpot_ms", "p50") for s in result.steps]
    ys = [1000.0 / t if t else float("nan") for t in tpot]
    colors = [
        CAPACITY_COLOR
        if s.status in ("met", "no SLO")
        else "#d62728"
        if s.status == "breached"
        else "#9e9e9e"
        for s in result.steps
    ]
    ax.plot(xs, ys, "-", color="#90a4ae", lw=1, zorder=1)
    for status, color in (
        ("met every SLO", CAPACITY_COLOR),
        ("breached", "#d62728"),
        ("not judged", "#9e9e9e"),
    ):
        pick = [i for i, c in enumerate(colors) if c == color]
        if pick:
            ax.scatter(
                [xs[i] for i in pick], [ys[i] for i in pick], color=color, s=30, zorder=2, label=status
            )
    _annotate_levels(ax, xs, ys, result.steps)
    ax.set_xlabel("server output tokens/s (all users)")
    ax.set_ylabel("per-user tokens/s (1000 / TPOT p50)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend_below(fig, [ax])
    fig.suptitle("Pareto: what each user gets against what the server delivers (labels: load level)")
    return fig


PLOTS: Mapping[str, tuple[str, Any]] = {
    "capacity_latency": ("Latency against load", _plot_latency),
    "capacity_throughput": ("Throughput and goodput against load", _plot_throughput),
    "capacity_errors": ("Error rate against load", _plot_errors),
    "capacity_latency_throughput": ("Latency against throughput", _plot_latency_vs_throughput),
    "capacity_pareto": ("Per-user tokens/s against server tokens/s (Pareto)", _plot_pareto),
}
"""File stem -> (caption, drawing function), in the order the page shows them."""


def write_capacity_report(result: CapacityResult, out_dir: str | Path) -> dict[str, Path]:
    """Write capacity.json, capacity.md, the PNGs and capacity.html into ``out_dir``; returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    figures = []
    for name, (caption, draw) in PLOTS.items():
        fig = draw(result)
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        fig.clear()
        paths[name] = path
        figures.append(Figure(caption, path))
    page = capacity_page(result, figures)
    paths["json"] = out / "capacity.json"
    paths["json"].write_bytes(
        orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    paths["markdown"] = out / "capacity.md"
    paths["markdown"].write_text(render_markdown(page), encoding="utf-8")
    paths["html"] = out / "capacity.html"
    paths["html"].write_text(render_html(page), encoding="utf-8")
    return paths
