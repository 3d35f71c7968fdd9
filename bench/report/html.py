"""``report.html``: one self-contained page (plots inline as base64 PNG, no script, no network).

Every piece of text that came from outside chatbench (error messages from the server, scenario and
prompt-set names from the scenario file) goes through ``html.escape``: a server answering
``<script>...`` must not run code in the browser of whoever opens the report.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.report.tables import Table, report_tables

__all__ = ["render_html"]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1150px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, th:first-child, td.text { text-align: left; }
th { background: #f3f3f3; }
.warning { background: #fff3cd; border: 2px solid #d39e00; padding: 0.8em 1em; font-weight: bold; }
.note { background: #eef4fb; border-left: 4px solid #4a7bbf; padding: 0.5em 1em; margin: 0.4em 0; }
.tnote { color: #555; font-size: 0.9em; max-width: 60em; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
"""


def render_html(summary: Mapping[str, Any], plots: Mapping[str, Path]) -> str:
    """The page; ``plots`` maps a caption to a PNG file, embedded as a data: URI."""
    e = html.escape
    title = str(summary["run"]["scenario"] or summary["run"]["run_id"] or "run")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>chatbench report: {e(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>chatbench report: {e(title)}</h1>",
    ]
    for warning in summary["warnings"]:
        parts.append(f'<div class="warning" id="loadgen-warning">WARNING: {e(warning)}</div>')
    for note in summary["notes"]:
        parts.append(f'<div class="note">{e(note)}</div>')
    for table in report_tables(summary):
        parts.append(_table(table))
    parts.append("<h2>Plots</h2>")
    for caption, path in plots.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )
    parts.append(
        '<p class="tnote">Metric definitions: TTFT, TPOT, ITL, E2E, goodput and the steady-state window '
        "are defined in chatbench's docs/report.md.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


NUMBER = re.compile(r"^[-+]?[\d,.]+( %| s)?$|^—$")


def _cell(text: str) -> str:
    """A table cell: numbers right-aligned (by the stylesheet), text left-aligned."""
    if NUMBER.match(text):
        return f"<td>{html.escape(text)}</td>"
    return f'<td class="text">{html.escape(text)}</td>'


def _table(table: Table) -> str:
    e = html.escape
    out = [f"<h2>{e(table.title)}</h2>", "<table>"]
    if any(table.headers):
        out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in table.headers) + "</tr>")
    out += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows]
    out.append("</table>")
    if table.note:
        out.append(f'<p class="tnote">{e(table.note)}</p>')
    return "\n".join(out)
