"""Request traces: the readers of each trace file format, as rows of (time, lengths, prefix blocks).

One reader per format, registered by name with ``@trace_format``:

    mooncake   JSONL  {"timestamp": ms, "input_length": N, "output_length": N, "hash_ids": [...]}
    azure      CSV    TIMESTAMP (a date-time, or seconds), ContextTokens, GeneratedTokens
    burstgpt   CSV    Timestamp (seconds), Request tokens, Response tokens (Model, Log Type ignored)
    chatbench  JSONL  {"t_s": s, "messages": [...] | "prompt_tokens": N, "max_tokens": N}

Every row keeps its 1-based line number, so a bad value is reported as ``FILE:LINE: FIELD: what``:
a missing column or key, a negative or non-integer length, a time before the previous row's (a
trace must be sorted; it is never reordered silently), text that is not JSON/CSV.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.scenario.checks import Where, json_lines

__all__ = ["TRACE_FORMATS", "TraceRow", "guess_format", "read_trace"]


@dataclass(frozen=True)
class TraceRow:
    """One request of a trace, as the file gives it."""

    line: int  # 1-based line in the file
    t_s: float  # seconds after the trace's first row (before time_scale)
    prompt_tokens: int | None  # None when the row gives messages instead
    output_tokens: int | None  # None (or 0 in BurstGPT failures): the trace does not say
    hash_ids: tuple[int, ...] = ()  # one id per block of prompt tokens (mooncake)
    messages: tuple[Mapping[str, Any], ...] = ()  # chatbench rows may carry their messages


Reader = Callable[[Path, str], list[TraceRow]]
TRACE_FORMATS: dict[str, Reader] = {}


def trace_format(name: str) -> Callable[[Reader], Reader]:
    def add(reader: Reader) -> Reader:
        TRACE_FORMATS[name] = reader
        return reader

    return add


def read_trace(path: Path, fmt: str) -> list[TraceRow]:
    """The rows of ``path`` read as ``fmt``, sorted check included; raises ``ScenarioError``."""
    text = path.read_text(encoding="utf-8")
    rows = TRACE_FORMATS[fmt](path, text)
    if not rows:
        raise Where(str(path)).error("", "holds no requests")
    return rows


def guess_format(path: Path) -> str | None:
    """The format of a trace from its first line, or None when it matches none."""
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if first.startswith("{"):
        try:
            keys = set(json.loads(first))
        except (json.JSONDecodeError, TypeError):
            return None
        if keys & {"hash_ids", "input_length", "output_length", "timestamp"}:
            return "mooncake"
        if "t_s" in keys:
            return "chatbench"
        return None
    header = {h.strip() for h in first.split(",")}
    if "ContextTokens" in header:
        return "azure"
    if "Request tokens" in header:
        return "burstgpt"
    return None


def _count(at: Where, value: Any, field: str, *, allow_none: bool = False) -> int | None:
    """A token count: an integer >= 0 (a string of digits in CSV)."""
    if value is None or value == "":
        if allow_none:
            return None
        raise at.error(field, "is missing")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise at.error(field, f"expected a token count (an integer >= 0), got {text!r}") from None
        value = int(number) if number.is_integer() else number
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise at.error(field, f"expected a token count (an integer >= 0), got {value!r}")
    if value < 0:
        raise at.error(field, f"{value} is negative; a token count is an integer >= 0")
    return int(value)


def _time(at: Where, value: Any, field: str, scale: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise at.error(
                field, f"expected a time in {'ms' if scale < 1 else 'seconds'}, got {value!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise at.error(field, f"expected a time in {'ms' if scale < 1 else 'seconds'}, got {value!r}")
    if value < 0:
        raise at.error(field, f"{value} is negative; times count from the trace's start")
    return float(value) * scale


def _sorted(rows: list[TraceRow], path: Path, field: str) -> list[TraceRow]:
    """Times relative to the first row; a row earlier than the one before it is an error."""
    for before, row in itertools.pairwise(rows):
        if row.t_s < before.t_s:
            raise Where(f"{path}:{row.line}").error(
                field,
                f"is before the previous row's (line {before.line}); a trace must be sorted by time",
            )
    t0 = rows[0].t_s if rows else 0.0
    return [
        TraceRow(r.line, r.t_s - t0, r.prompt_tokens, r.output_tokens, r.hash_ids, r.messages) for r in rows
    ]


def _json_lines(path: Path, text: str) -> list[tuple[Where, int, dict[str, Any]]]:
    out = []
    for at, lineno, item in json_lines(path, text):
        if not isinstance(item, dict):
            raise at.error("", "expected a JSON object per line")
        out.append((at, lineno, item))
    return out


def _require(at: Where, item: Mapping[str, Any], keys: Sequence[str]) -> None:
    for key in keys:
        if key not in item:
            raise at.error(key, "is missing")


@trace_format("mooncake")
def _mooncake(path: Path, text: str) -> list[TraceRow]:
    rows = []
    for at, lineno, item in _json_lines(path, text):
        _require(at, item, ("timestamp", "input_length", "output_length"))
        hash_ids = item.get("hash_ids") or []
        if not isinstance(hash_ids, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) for h in hash_ids
        ):
            raise at.error("hash_ids", "expected a list of integers (one id per block of prompt tokens)")
        rows.append(
            TraceRow(
                lineno,
                _time(at, item["timestamp"], "timestamp", 0.001),
                _count(at, item["input_length"], "input_length"),
                _count(at, item["output_length"], "output_length"),
                tuple(hash_ids),
            )
        )
    return _sorted(rows, path, "timestamp")


@trace_format("chatbench")
def _chatbench(path: Path, text: str) -> list[TraceRow]:
    from bench.scenario.prompts import parse_messages

    rows = []
    for at, lineno, item in _json_lines(path, text):
        at.known_keys(item, "", ("t_s", "messages", "prompt_tokens", "max_tokens"))
        _require(at, item, ("t_s",))
        if ("messages" in item) == ("prompt_tokens" in item):
            raise at.error("", "give exactly one of 'messages' (a list) or 'prompt_tokens' (a length)")
        messages: tuple[Mapping[str, Any], ...] = ()
        prompt_tokens = None
        if "messages" in item:
            messages = parse_messages(at, item["messages"], "messages")
        else:
            prompt_tokens = _count(at, item["prompt_tokens"], "prompt_tokens")
        rows.append(
            TraceRow(
                lineno,
                _time(at, item["t_s"], "t_s", 1.0),
                prompt_tokens,
                _count(at, item.get("max_tokens"), "max_tokens", allow_none=True),
                (),
                messages,
            )
        )
    return _sorted(rows, path, "t_s")


def _csv_rows(path: Path, text: str, needed: Sequence[str]) -> list[tuple[Where, int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    header = [h.strip() for h in reader.fieldnames or []]
    for name in needed:
        if name not in header:
            raise Where(f"{path}:1").error(
                name, f"column is missing; the header has: {', '.join(header) or 'nothing'}"
            )
    out = []
    try:
        for item in reader:
            lineno = reader.line_num
            row = {(k or "").strip(): (v or "") for k, v in item.items() if isinstance(v, str) or v is None}
            out.append((Where(f"{path}:{lineno}"), lineno, row))
    except csv.Error as exc:
        raise Where(f"{path}:{reader.line_num}").error("", f"not valid CSV: {exc}") from None
    return out


def _azure_time(at: Where, value: str) -> float:
    """Azure's TIMESTAMP: ``2023-11-16 18:15:46.6805900`` (7 fractional digits), or plain seconds."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    head, _, frac = text.partition(".")
    try:
        stamp = datetime.fromisoformat(head)
    except ValueError:
        raise at.error(
            "TIMESTAMP", f"expected a date-time like 2023-11-16 18:15:46.68 or seconds, got {text!r}"
        ) from None
    return stamp.timestamp() + (float(f"0.{frac}") if frac.isdigit() else 0.0)


@trace_format("azure")
def _azure(path: Path, text: str) -> list[TraceRow]:
    rows = [
        TraceRow(
            lineno,
            _azure_time(at, row["TIMESTAMP"]),
            _count(at, row["ContextTokens"], "ContextTokens"),
            _count(at, row["GeneratedTokens"], "GeneratedTokens"),
        )
        for at, lineno, row in _csv_rows(path, text, ("TIMESTAMP", "ContextTokens", "GeneratedTokens"))
    ]
    return _sorted(rows, path, "TIMESTAMP")


@trace_format("burstgpt")
def _burstgpt(path: Path, text: str) -> list[TraceRow]:
    rows = []
    for at, lineno, row in _csv_rows(path, text, ("Timestamp", "Request tokens", "Response tokens")):
        output = _count(at, row["Response tokens"], "Response tokens")
        rows.append(
            TraceRow(
                lineno,
                _time(at, row["Timestamp"], "Timestamp", 1.0),
                _count(at, row["Request tokens"], "Request tokens"),
                output or None,  # BurstGPT logs failed requests with 0 response tokens
            )
        )
    return _sorted(rows, path, "Timestamp")
