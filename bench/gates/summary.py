"""The SLO verdict as Markdown, short enough for a pull-request comment or a CI job summary."""

from __future__ import annotations

from bench.gates.slo import SloCheck, SloVerdict, verdict_head, verdict_words
from bench.numbers import pct, qty

__all__ = ["verdict_markdown"]


def _cell(check: SloCheck, value: float | None) -> str:
    if value is None:
        return "n/a"
    if check.stat is None:
        return pct(value)
    return qty(value, "ms/token" if check.metric == "tpot_ms" else "ms")


def verdict_markdown(verdict: SloVerdict, title: str) -> str:
    """A Markdown block: a headline with the result, then one table row per SLO (breaches first)."""
    if not verdict.checks:
        result = "no SLO set"
    else:
        soft = sum(1 for c in verdict.checks if not c.judged)
        words = verdict_words(len(verdict.checks), len(verdict.breaches), soft)
        result = f"{'PASS' if verdict.passed else 'FAIL'}, {words}"
    lines = [
        f"### chatbench SLO gate: {title}",
        "",
        f"**{result}** ({verdict_head(verdict)})",
        "",
    ]
    lines += [f"**Outage:** {line}" for line in verdict.outages]
    if verdict.outages:
        lines.append("")
    if verdict.checks:
        lines += ["| SLO | measured | limit | margin | result |", "|---|---:|---:|---:|---|"]
        ordered = [c for c in verdict.checks if not c.passed] + [c for c in verdict.checks if c.passed]
        for c in ordered:
            if c.measured is None:
                margin = "no data"
            else:
                excess = c.measured - c.limit
                margin = f"{excess / c.limit * 100:+,.1f} %" if c.limit else _cell(c, excess)
            lines.append(
                f"| `{c.name}` | {_cell(c, c.measured)} | {_cell(c, c.limit)} | {margin} | "
                f"{'pass' if c.passed else '**FAIL**'} |"
            )
        lines.append("")
    lines.append(
        "Latency percentiles over the successful requests that ended in the window; "
        "error rate = failed / every request sent while load was offered."
    )
    return "\n".join(lines) + "\n"
