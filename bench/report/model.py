"""The document model every writer builds: a ``Page`` of sections holding tables, facts, text and figures.

The run report, the compare report and the capacity report each build one ``Page``; ``bench.report.html``
and ``bench.report.markdown`` render any page, so the three share one look and one escaping rule, and
nothing is parsed back out of Markdown. Cells and texts are plain strings (numbers already formatted
by ``bench.numbers``); the renderers escape them for their format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Block", "Facts", "Figure", "Headline", "Page", "Section", "Table", "Text", "Verdict"]


@dataclass(frozen=True)
class Table:
    """A table: a title, a header row and rows of formatted cells; a note printed under it."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


TextStyle = Literal["p", "note", "warning"]


@dataclass(frozen=True)
class Text:
    """A paragraph; ``note`` and ``warning`` are set apart (a warning is what must not be missed)."""

    text: str
    style: TextStyle = "p"


@dataclass(frozen=True)
class Facts:
    """Label/value pairs read top to bottom (the setup of a run): a definition list, not a data table."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Headline:
    """The few figures a reader wants first, each a label, a value and a line of context."""

    items: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Verdict:
    """A PASS/FAIL banner and one row per check: name, measured, limit, result (the gate's own words)."""

    passed: bool | None  # None: nothing was judged
    headline: str
    rows: tuple[tuple[str, str, str, str, str], ...] = ()  # check, measured, limit, margin, result
    note: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG beside the page (embedded in HTML, linked from Markdown) and its caption."""

    caption: str
    path: Path
    alt: str = ""


Block = Table | Text | Facts | Headline | Verdict | Figure


@dataclass(frozen=True)
class Section:
    """A titled part of the page; ``key`` is its anchor (``id`` in HTML)."""

    key: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Page:
    """A whole report, in reading order."""

    kind: str  # "report", "capacity", "compare": names the page ("chatbench report: ...")
    title: str
    subtitle: str = ""
    sections: tuple[Section, ...] = field(default=())
