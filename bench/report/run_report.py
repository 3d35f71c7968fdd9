"""The run report as a ``Page``, in the order people read it.

1. **Verdict**: PASS/FAIL per SLO, measured against limit, as the SLO gate judged it (the gate's own
   checks, handed over as ``slo.json``'s form; nothing is recomputed here).
2. **Setup**: target, model, profile, prompts, sampling, load model and levels, duration, the window
   and why it was chosen, versions, run id.
3. **Headline figures**, then the **plots**.
4. The **tables**, at the end.

``summary.md`` and ``report.html`` are both renderings of this one page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bench import metrics
from bench.gates.slo import verdict_words
from bench.numbers import DASH, fmt, pct, qty
from bench.report.model import Facts, Figure, Headline, Page, Section, Text, Verdict
from bench.report.tables import report_tables

if TYPE_CHECKING:
    from bench.analysis.schema import Summary

__all__ = ["headline_items", "run_page", "setup_facts", "verdict_block", "window_text"]


def run_page(
    summary: Summary,
    scenario: Mapping[str, Any],
    run_info: Mapping[str, Any],
    figures: Sequence[Figure],
) -> Page:
    """The whole run report (module docstring)."""
    run = summary.run
    title = str(run.scenario or run.run_id or "run")
    started = str(run.started_at or "")[:19].replace("T", " ")
    subtitle = " · ".join(
        x for x in (f"run {run.run_id}" if run.run_id else "", f"{started} UTC" if started else "") if x
    )
    verdict = Section("verdict", "Verdict", _verdict_blocks(summary))
    setup = Section("setup", "Setup", (Facts(setup_facts(summary, scenario, run_info)),))
    headline = Section("headline", "Headline figures", (Headline(headline_items(summary)),))
    plots = Section("plots", "Plots", tuple(figures))
    tables = Section("tables", "Tables", tuple(report_tables(summary)))
    return Page("report", title, subtitle, (verdict, setup, headline, plots, tables))


def _verdict_blocks(summary: Summary) -> tuple[Any, ...]:
    blocks: list[Any] = [verdict_block(summary.verdict)]
    blocks += [Text(w, "warning") for w in summary.warnings]
    blocks += [Text(n, "note") for n in summary.notes if not n.startswith("window:")]
    return tuple(blocks)


def verdict_block(verdict: Mapping[str, Any] | None) -> Verdict:
    """The SLO gate's verdict (``SloVerdict.to_dict()``, the form of ``slo.json``) as a banner and rows."""
    if verdict is None:
        return Verdict(None, "No SLO verdict: this report was built without judging the SLOs.")
    checks = verdict.get("checks") or []
    where = f"{fmt(verdict['requests'])} requests sent, {fmt(verdict['failed'])} failed"
    if verdict.get("window_requests") is not None:
        left = verdict.get("left_out") or {}
        where += f"; latency over {fmt(verdict['window_requests'])} requests in the {verdict['window']}"
        if left.get("requests"):
            where += f", {fmt(left['requests'])} left out ({fmt(left.get('failed', 0))} failed)"
    else:
        where += f", in the {verdict['window']}"
    if not checks:
        return Verdict(None, f"No SLO set: nothing to judge ({where}).")
    breaches = [c for c in checks if not c["passed"]]
    soft = sum(1 for c in checks if c.get("judged") is False)
    words = verdict_words(len(checks), len(breaches), soft)
    headline = f"{'FAIL' if breaches else 'PASS'}: {words} ({where})"
    rows = []
    for c in [*breaches, *(c for c in checks if c["passed"])]:
        rows.append(
            (
                c["name"],
                _slo_value(c, c["measured"])
                + (f" (n = {fmt(c['samples'])})" if c["measured"] is not None else ""),
                _slo_value(c, c["limit"]),
                _margin(c),
                "PASS" if c["passed"] else "FAIL",
            )
        )
    note = (
        "Judged by the SLO gate (the exit code of chatbench run, junit.xml and slo.md say the same): "
        "latency percentiles over successful requests, error rate = failed / all requests."
    )
    return Verdict(not breaches, headline, tuple(rows), note)


def _slo_value(check: Mapping[str, Any], value: float | None) -> str:
    if value is None:
        return "not measured"
    if check["stat"] is None:
        return pct(value)
    return qty(value, metrics.get(check["metric"]).unit)


def _margin(check: Mapping[str, Any]) -> str:
    measured, limit = check["measured"], check["limit"]
    if measured is None:
        return DASH
    if check["stat"] is None:
        return f"{(measured - limit) * 100:+,.2f} pp"
    return f"{(measured - limit) / limit * 100:+,.1f} %" if limit else fmt(measured - limit)


def window_text(summary: Summary) -> str:
    """Which part of the run the figures cover, and why, in plain words."""
    win, run = summary.window, summary.run
    total = summary.whole_run.requests
    left = win.left_out
    if win.source == "whole_run":
        reason = win.note or "no separate steady-state window"
        return f"the whole run, 0–{run.duration_s:,.1f} s ({reason}): all {fmt(total)} requests count"
    span = f"{win.start_s:,.1f}–{win.end_s:,.1f} s of {run.duration_s:,.1f} s"
    if win.source == "manual":
        why = "given with --window"
    else:
        why = "from the run's schedule of offered load"
        if win.note:
            why += f" ({win.note})"
    return (
        f"{span}, {why}. Latency figures: the {fmt(win.requests)} requests that ended inside it; "
        f"{fmt(left.requests)} ended outside it ({fmt(left.failed)} of them failed) and are "
        f"left out of the latency figures. Request and error counts: all {fmt(total)} requests sent"
    )


def setup_facts(
    summary: Summary, scenario: Mapping[str, Any], run_info: Mapping[str, Any]
) -> tuple[tuple[str, str], ...]:
    """What was measured and how: the label/value pairs of the Setup section."""
    run = summary.run
    target = scenario.get("target") or {}
    url = f"{run.target or run_info.get('target_url') or DASH}{target.get('path', '')}"
    if target and target.get("base_url") is None and run_info.get("target_url"):
        url = f"{url} (the embedded mock, started for this run)"
    items: list[tuple[str, str]] = [("target", url)]
    if target:
        items.append(("model", str(target.get("model") or DASH)))
        items.append(("API profile", _profile(str(target.get("profile") or ""))))
    if scenario.get("description"):
        items.append(("scenario", f"{scenario.get('name', '')}: {scenario['description']}"))
    sets = scenario.get("prompt_sets") or []
    if sets:
        items.append(("prompts", "; ".join(_prompt_set(p) for p in sets)))
    sampling = scenario.get("sampling") or {}
    if sampling:
        items.append(("sampling", "; ".join(f"{k} {_spec(v)}" for k, v in sampling.items())))
    load = scenario.get("load") or {}
    if load:
        items.append(("load", _load(load)))
        if load.get("max_requests"):
            items.append(("request budget", f"at most {fmt(load['max_requests'])} requests"))
    items.append(("duration", f"{run.duration_s:,.1f} s measured, first request to last answer"))
    items.append(("window", window_text(summary)))
    workers = run.workers
    processes = (run_info.get("options") or {}).get("processes")
    items.append(
        (
            "load generator",
            f"{len(workers) or 1} process(es) ({', '.join(workers) or 'local'})"
            + (f", --processes {processes}" if processes else ""),
        )
    )
    versions = run_info.get("versions") or {}
    if versions:
        items.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    items.append(("run id", str(run.run_id or DASH)))
    items.append(("records", f"{fmt(run.records)} from {run.source}"))
    return tuple(items)


def _profile(profile: str) -> str:
    return {
        "seed": "seed (only the seven documented body keys are sent)",
        "openai": "openai (may add max_tokens and stream_options.include_usage)",
    }.get(profile, profile or DASH)


def _prompt_set(p: Mapping[str, Any]) -> str:
    size = f", {fmt(p['conversations'])} conversations" if p.get("conversations") else ""
    turns = ", multi-turn" if p.get("multi_turn") else ""
    return f"{p.get('name')} ({p.get('source', '?')}{size}{turns}, weight {p.get('weight', 1):g})"


def _spec(spec: Any) -> str:
    """A sampling or think-time spec in words: ``0.7``, ``one of 0, 0.7, 1``, ``uniform 32–96``."""
    if isinstance(spec, Mapping):
        if "choice" in spec:
            return "one of " + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in spec["choice"])
        if "uniform" in spec:
            lo, hi = spec["uniform"]
            return f"uniform {lo:g}–{hi:g}"
        if "ratio" in spec:
            return f"in {spec['ratio'] * 100:g} % of requests"
        if "grid" in spec:
            return "cycling through " + ", ".join(str(v) for v in spec["grid"])
        return ", ".join(f"{k} {v}" for k, v in spec.items())
    if isinstance(spec, bool):
        return "always" if spec else "never"
    if isinstance(spec, float):
        return f"{spec:g}"
    return str(spec)


def _load(load: Mapping[str, Any]) -> str:
    stages = load.get("stages") or []
    arrival = load.get("arrival")
    if arrival:
        text = (
            f"open loop: {arrival.get('process', 'poisson')} arrivals at {arrival.get('rate_rps', 0):g} req/s "
            "(sent on schedule whether or not earlier answers came back)"
        )
    else:
        think = load.get("think_time_s")
        wait = f", each waiting {_spec(think)} s after an answer" if think else ""
        text = (
            f"closed loop: {load.get('users')} users, started at {load.get('spawn_rate', 0):g}/s{wait} "
            "(each sends its next request when its answer arrived)"
        )
    if len(stages) > 1:
        levels = ", ".join(
            f"{s['duration_s']:g} s at "
            + (f"{s['rate_rps']:g} req/s" if s.get("rate_rps") else f"{s.get('users')} users")
            for s in stages
        )
        text += f"; stages: {levels}"
    else:
        text += f"; planned {load.get('duration_s', 0):g} s"
    return text


def headline_items(summary: Summary) -> tuple[tuple[str, str, str], ...]:
    """The figures a reader looks for first (steady window, or the whole run when there is none)."""
    s = summary.steady
    tp, lat = s.throughput, s.latency_ms
    where = "in the steady window" if summary.window.source != "whole_run" else "over the whole run"
    items = [
        ("requests", fmt(s.requests), f"sent; {fmt(s.failed)} failed ({pct(s.error_rate)})"),
        ("throughput", qty(tp.requests_per_s, "req/s", 2), f"successful requests per second, {where}"),
        ("output tokens", qty(tp.output_tokens_per_s, "tok/s", 1), f"of successful requests, {where}"),
    ]
    for m in metrics.all_metrics(kind="latency"):
        stats = lat.get(m.name)
        if m.per_second and stats is not None and stats.count:
            items.append(
                (
                    f"{m.label} p50 / p95 / p99",
                    f"{fmt(stats.p50)} / {fmt(stats.p95)} / {fmt(stats.p99)} {m.unit}",
                    f"n = {fmt(stats.count)}",
                )
            )
    gp = s.goodput
    if gp.limits_ms:
        items.append(
            ("goodput", qty(gp.goodput_rps, "req/s", 2), f"{pct(gp.good_share, 1)} met every SLO limit")
        )
    return tuple(items)
