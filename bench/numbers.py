"""One number format for everything people read: terminal lines, reports, verdicts. Standard library only.

- counts: thousands separators, ``1,405``;
- quantities: thousands separators and a fixed number of decimals, then the unit after a space,
  ``1,405.8 ms``, ``174.3 tok/s``;
- shares: a percentage with a space before the sign, ``0.50 %``; differences of shares are
  percentage points, ``+0.25 pp``;
- a value that could not be computed is an em dash, never ``nan`` or ``None``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DASH", "fmt", "ms", "pct", "pp", "qty"]

DASH = "—"


def fmt(value: Any, digits: int = 1) -> str:
    """A number with thousands separators (``digits`` decimals for a float), or a dash for None/NaN."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return DASH if not math.isfinite(value) else f"{value:,.{digits}f}"
    return str(value)


def qty(value: float | int | None, unit: str, digits: int = 1) -> str:
    """``fmt(value, digits)`` followed by its unit: ``1,405.8 ms``; a dash alone when missing."""
    text = fmt(value, digits)
    return text if text == DASH else f"{text} {unit}"


def ms(value: float | None, digits: int = 1) -> str:
    """A duration in milliseconds: ``1,405.8 ms``."""
    return qty(value, "ms", digits)


def pct(ratio: float | None, digits: int = 2) -> str:
    """A ratio (0..1) as a percentage: ``0.50 %``; a dash when missing."""
    if ratio is None or not math.isfinite(ratio):
        return DASH
    return f"{ratio * 100:,.{digits}f} %"


def pp(delta: float | None, digits: int = 2) -> str:
    """A difference of two ratios in percentage points, signed: ``+0.25 pp``."""
    if delta is None or not math.isfinite(delta):
        return DASH
    return f"{delta * 100:+,.{digits}f} pp"
