"""The ``mock`` block: settings of the embedded mock, checked by ``MockSettings`` itself (field metadata)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from bench.errors import ChatbenchError, ScenarioError
from bench.scenario.checks import Where

__all__ = ["parse_mock"]


def parse_mock(where: Where, raw: Any) -> Mapping[str, Any]:
    """The ``mock`` block as given (plain values), each key checked against ``MockSettings``."""
    if raw is None:
        return {}
    block = where.mapping(raw, "mock")
    try:
        json.dumps(block)
    except (TypeError, ValueError, RecursionError):
        raise where.error("mock", "must hold plain values (numbers, strings, lists, mappings)") from None
    try:
        from bench.mock.settings import MockSettings  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # the mock package is optional for loading a scenario
        return block
    where.known_keys(block, "mock", [f.name for f in dataclasses.fields(MockSettings)])
    try:
        MockSettings.from_mapping(block)
    except ScenarioError as exc:
        key = exc.key or "mock"
        message = str(exc)
        if message.startswith(f"{key}: "):  # the mock's error names the key itself; say it once
            message = message[len(key) + 2 :]
        raise where.error(key, message) from None
    except (ChatbenchError, ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise where.error("mock", str(exc)) from None
    return block
