"""``summary.md``: the report as Markdown tables, to paste into a pull request or an issue."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from bench.report.tables import Table, report_tables

__all__ = ["render_markdown"]


def render_markdown(summary: Mapping[str, Any], plots: Mapping[str, str] | None = None) -> str:
    """The whole Markdown report; ``plots`` maps a caption to a PNG file name beside summary.md."""
    title = summary["run"]["scenario"] or summary["run"]["run_id"] or "run"
    lines = [f"# chatbench report: {_cell(str(title))}", ""]
    for warning in summary["warnings"]:
        lines += [f"> **WARNING: {_cell(warning)}**", ""]
    for note in summary["notes"]:
        lines += [f"> {_cell(note)}", ""]
    for table in report_tables(summary):
        lines += _table(table)
    if plots:
        lines += ["## Plots", ""]
        for caption, name in plots.items():
            lines += [f"![{_cell(caption)}]({name})", ""]
    return "\n".join(lines)


def _table(table: Table) -> list[str]:
    lines = [f"## {_cell(table.title)}", ""]
    headers = table.headers if any(table.headers) else tuple(" " for _ in table.headers)
    lines.append("| " + " | ".join(_cell(h) or " " for h in headers) + " |")
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    lines.append("")
    if table.note:
        lines += [_cell(table.note), ""]
    return lines


def _cell(text: str) -> str:
    """Text from a server or a prompt file, made inert: one line, no table-splitting pipe, no raw HTML."""
    text = html.escape(text, quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
