"""Validation helpers for scenario files: type and range checks that raise one clear ``ScenarioError``.

Every check names the file, the key path (``prompt_sets[1].sampling.top_p``), the line when the
YAML parser told us where the key is, and what is allowed. An unknown key gets the closest valid
key suggested.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bench.errors import ScenarioError
from bench.scenario.cli_options import duration_seconds

__all__ = ["Where", "join"]

# Integers beyond this cannot be floats exactly (and far beyond it not at all): out of range everywhere.
_LARGEST = 2**53


def join(base: str, key: str | int) -> str:
    """Key path of ``key`` under ``base``: ``a.b``, ``a[1]``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class Where:
    """Where an error is: the file, and the line of each key path when known."""

    def __init__(self, file: str, lines: Mapping[str, int] | None = None) -> None:
        self.file = file
        self.lines = dict(lines or {})

    def error(self, key: str, message: str) -> ScenarioError:
        line = self._line(key)
        if line is not None:
            message = f"{message} (line {line})"
        return ScenarioError(message, file=self.file, key=key or None)

    def _line(self, key: str) -> int | None:
        """The line of ``key``, else of its nearest parent (a missing key is reported at its block)."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", key) if re.search(r"[.\[]", key) else ""
        return None

    # -- containers ----------------------------------------------------------------------------

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a mapping (key: value lines), got {_type_name(value)}")
        for k in value:
            if not isinstance(k, str):
                raise self.error(key, f"keys must be strings, got {_type_name(k)}")
        return dict(value)

    def list(self, value: Any, key: str, *, non_empty: bool = True) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_type_name(value)}")
        if non_empty and not value:
            raise self.error(key, "must not be empty")
        return value

    def known_keys(self, mapping: Mapping[str, Any], key: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for k in mapping:
            if k not in allowed:
                close = difflib.get_close_matches(k, allowed, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise self.error(join(key, k), f"unknown key '{k}'; {hint}allowed keys: {', '.join(allowed)}")

    def required(self, mapping: Mapping[str, Any], key: str, name: str) -> Any:
        if name not in mapping:
            raise self.error(join(key, name), "is required")
        return mapping[name]

    # -- scalars -------------------------------------------------------------------------------

    def number(
        self,
        value: Any,
        key: str,
        *,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        integer: bool = False,
    ) -> float:
        """A finite number within [lo, hi] (or (lo, hi] with ``lo_open``); ints only with ``integer``."""
        kind = "an integer" if integer else "a number"
        bounds = self._bounds(lo, hi, lo_open)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"expected {kind}{bounds}, got {_type_name(value)}")
        if integer and not (isinstance(value, int) or float(value).is_integer()):
            raise self.error(key, f"expected {kind}{bounds}, got {value}")
        if isinstance(value, int) and abs(value) > _LARGEST:
            raise self.error(
                key, f"a {len(str(abs(value)))}-digit number is out of range; allowed: {kind}{bounds}"
            )
        if not math.isfinite(value):
            raise self.error(key, f"expected a finite number{bounds}, got {value}")
        if (lo is not None and (value < lo or (lo_open and value == lo))) or (hi is not None and value > hi):
            raise self.error(key, f"{value} is out of range; allowed: {kind}{bounds}")
        return int(value) if integer else float(value)

    @staticmethod
    def _bounds(lo: float | None, hi: float | None, lo_open: bool) -> str:
        def show(v: float) -> str:
            return str(int(v)) if float(v).is_integer() else f"{v:g}"

        if lo is not None and hi is not None:
            return f" in {'(' if lo_open else '['}{show(lo)}, {show(hi)}]"
        if lo is not None:
            return f" {'>' if lo_open else '>='} {show(lo)}"
        if hi is not None:
            return f" <= {show(hi)}"
        return ""

    def integer(self, value: Any, key: str, *, lo: int | None = None, hi: int | None = None) -> int:
        return int(self.number(value, key, lo=lo, hi=hi, integer=True))

    def string(self, value: Any, key: str, *, non_empty: bool = True) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_type_name(value)}")
        if non_empty and not value.strip():
            raise self.error(key, "must not be an empty string")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_type_name(value)}")
        return value

    def choice(self, value: Any, key: str, allowed: Iterable[str]) -> str:
        allowed = tuple(allowed)
        if not isinstance(value, str) or value not in allowed:
            close = (
                difflib.get_close_matches(value, allowed, n=1, cutoff=0.6) if isinstance(value, str) else []
            )
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise self.error(key, f"got {_type_name(value)}; {hint}allowed: {', '.join(allowed)}")
        return value

    def duration(self, value: Any, key: str, *, positive: bool = True) -> float:
        """Seconds, from a number or a string like ``30s``, ``2m``, ``1h30m``."""
        allowed = "seconds as a number, or a string like 30s, 2m, 1h30m"
        if isinstance(value, str):
            seconds = duration_seconds(value)
            if seconds is None:
                raise self.error(key, f"cannot read {value!r} as a duration; allowed: {allowed}")
            value = seconds
        if isinstance(value, int) and abs(value) > _LARGEST:
            value = float("inf")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f"expected a duration ({allowed}), got {_type_name(value)}")
        if value < 0 or (positive and value == 0):
            raise self.error(
                key, f"{value} is out of range; allowed: a duration {'>' if positive else '>='} 0"
            )
        return float(value)


def json_lines(path: object, text: str) -> Iterator[tuple[Where, int, Any]]:
    """Each non-blank line of a JSONL file's ``text``: where it is (``path:line``), its line number and its
    value; a line that is not JSON is a one-line ``ScenarioError`` naming it."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        at = Where(f"{path}:{lineno}")
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise at.error("", f"not valid JSON: {exc.msg} at column {exc.colno}") from None
        yield at, lineno, item
