"""The one HTML template: any ``Page`` as a self-contained file (plots inline as base64 PNG, no script,
no network), so ``report.html``, ``capacity.html`` and ``compare.html`` look alike.

Every piece of text goes through ``html.escape``: text that came from outside chatbench (an error
message from the server, names from the scenario file) must not run code in the reader's browser.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from bench.report.model import Facts, Figure, Headline, Page, Section, Table, Text, Verdict

__all__ = ["render_html"]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1150px;
       color: #222; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; } .subtitle { color: #555; margin-top: 0; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
nav { font-size: 0.9em; color: #555; } nav a { color: #2a5db0; margin-right: 0.9em; text-decoration: none; }
table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, th:first-child, td.text { text-align: left; }
th { background: #f3f3f3; }
.warning { background: #fff3cd; border: 2px solid #d39e00; padding: 0.8em 1em; font-weight: bold; margin: 0.6em 0; }
.note { background: #eef4fb; border-left: 4px solid #4a7bbf; padding: 0.5em 1em; margin: 0.4em 0; }
.tnote { color: #555; font-size: 0.9em; max-width: 62em; }
.verdict { border-radius: 6px; padding: 0.7em 1em; margin: 0.6em 0; font-size: 1.15em; font-weight: bold; }
.verdict.pass { background: #e6f4ea; border: 2px solid #2e7d32; color: #1b5e20; }
.verdict.fail { background: #fdecea; border: 2px solid #c62828; color: #b71c1c; }
.verdict.unjudged { background: #f3f3f3; border: 2px solid #999; color: #444; }
td.pass { color: #1b5e20; font-weight: bold; } td.fail { color: #b71c1c; font-weight: bold; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25em 1.2em; margin: 0.5em 0; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; }
.headline { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 0.6em 0; }
.headline > div { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 0.9em; min-width: 9em; }
.headline .v { font-size: 1.35em; font-weight: bold; font-variant-numeric: tabular-nums; }
.headline .l { color: #555; font-size: 0.85em; } .headline .c { color: #777; font-size: 0.8em; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; max-width: 62em; }
"""

NUMBER = re.compile(r"^[-+]?[\d,.]+( ?%| s| ms| pp| ms/token| tok/s| req/s| users)?$|^—$")


def render_html(page: Page) -> str:
    """The page as one HTML document."""
    e = html.escape
    title = f"chatbench {page.kind}: {page.title}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    if page.subtitle:
        parts.append(f'<p class="subtitle">{e(page.subtitle)}</p>')
    if len(page.sections) > 2:
        links = "".join(f'<a href="#{e(s.key)}">{e(s.title)}</a>' for s in page.sections)
        parts.append(f"<nav>{links}</nav>")
    parts += [_section(s) for s in page.sections]
    parts.append("</body></html>")
    return "\n".join(parts)


def _section(section: Section) -> str:
    e = html.escape
    out = [f'<section id="{e(section.key)}">', f"<h2>{e(section.title)}</h2>"]
    for block in section.blocks:
        if isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Text):
            cls = {"p": "", "note": ' class="note"', "warning": ' class="warning"'}[block.style]
            text = f"WARNING: {block.text}" if block.style == "warning" else block.text
            out.append(f"<p{cls}>{e(text)}</p>" if cls else f"<p>{e(text)}</p>")
        elif isinstance(block, Facts):
            out.append('<dl class="facts">')
            out += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in block.items]
            out.append("</dl>")
        elif isinstance(block, Headline):
            out.append('<div class="headline">')
            out += [
                f'<div><div class="l">{e(label)}</div><div class="v">{e(value)}</div>'
                f'<div class="c">{e(context)}</div></div>'
                for label, value, context in block.items
            ]
            out.append("</div>")
        elif isinstance(block, Verdict):
            out.append(_verdict(block))
        elif isinstance(block, Figure):
            data = base64.b64encode(Path(block.path).read_bytes()).decode("ascii")
            out.append(
                f'<figure><img alt="{e(block.alt or block.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(block.caption)}</figcaption></figure>"
            )
    out.append("</section>")
    return "\n".join(out)


def _verdict(block: Verdict) -> str:
    e = html.escape
    cls = "unjudged" if block.passed is None else "pass" if block.passed else "fail"
    out = [f'<div class="verdict {cls}" id="verdict-banner">{e(block.headline)}</div>']
    if block.rows:
        out.append('<table class="verdict-checks">')
        out.append(
            "<tr>" + "".join(f"<th>{h}</th>" for h in ("SLO", "measured", "limit", "margin", "result"))
        )
        for check, measured, limit, margin, result in block.rows:
            rcls = "pass" if result == "PASS" else "fail" if result == "FAIL" else "text"
            out.append(
                f'<tr><td class="text">{e(check)}</td><td>{e(measured)}</td><td>{e(limit)}</td>'
                f'<td>{e(margin)}</td><td class="{rcls}">{e(result)}</td></tr>'
            )
        out.append("</table>")
    if block.note:
        out.append(f'<p class="tnote">{e(block.note)}</p>')
    return "\n".join(out)


def _cell(text: str) -> str:
    """A table cell: numbers right-aligned (by the stylesheet), text left-aligned."""
    if NUMBER.match(text):
        return f"<td>{html.escape(text)}</td>"
    return f'<td class="text">{html.escape(text)}</td>'


def _table(table: Table) -> str:
    e = html.escape
    out = [f"<h3>{e(table.title)}</h3>" if table.title else "", '<table class="data">']
    if any(table.headers):
        out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in table.headers) + "</tr>")
    out += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows]
    out.append("</table>")
    if table.note:
        out.append(f'<p class="tnote">{e(table.note)}</p>')
    return "\n".join(out)
