"""Any ``Page`` as Markdown (``summary.md``, ``capacity.md``, ``compare.md``): to paste into a pull request.

Same order as the HTML page. Figures become image links to the PNG beside the Markdown file.
"""

from __future__ import annotations

import html

from bench.report.model import Facts, Figure, Headline, Page, Section, Table, Text, Verdict

__all__ = ["render_markdown"]


def render_markdown(page: Page) -> str:
    """The whole page as Markdown."""
    lines = [f"# chatbench {page.kind}: {_cell(page.title)}", ""]
    if page.subtitle:
        lines += [_cell(page.subtitle), ""]
    for section in page.sections:
        lines += _section(section)
    return "\n".join(lines).rstrip("\n") + "\n"


def _section(section: Section) -> list[str]:
    lines = [f"## {_cell(section.title)}", ""]
    for block in section.blocks:
        if isinstance(block, Table):
            lines += _table(block)
        elif isinstance(block, Text):
            if block.style == "warning":
                lines += [f"> **WARNING: {_cell(block.text)}**", ""]
            elif block.style == "note":
                lines += [f"> {_cell(block.text)}", ""]
            else:
                lines += [_cell(block.text), ""]
        elif isinstance(block, Facts):
            lines += [f"- **{_cell(k)}**: {_cell(v)}" for k, v in block.items] + [""]
        elif isinstance(block, Headline):
            lines += [
                f"- **{_cell(label)}**: {_cell(value)} ({_cell(c)})"
                if c
                else f"- **{_cell(label)}**: {_cell(value)}"
                for label, value, c in block.items
            ] + [""]
        elif isinstance(block, Verdict):
            lines += [f"**{_cell(block.headline)}**", ""]
            if block.rows:
                lines += _table(
                    Table("", ("SLO", "measured", "limit", "margin", "result"), tuple(block.rows))
                )
            if block.note:
                lines += [_cell(block.note), ""]
        elif isinstance(block, Figure):
            lines += [f"![{_cell(block.caption)}]({block.path.name})", ""]
    return lines


def _table(table: Table) -> list[str]:
    lines = [f"### {_cell(table.title)}", ""] if table.title else []
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
