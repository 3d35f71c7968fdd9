"""The small version of benchmarks/compare_false_alarm.py: an identical pair of quickstart runs is never a
REGRESSION, and a mock 20 % slower in TPOT is flagged. Real runs of 10 s each, marked slow."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_false_alarm.py"


def _benchmark():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("compare_false_alarm", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_identical_runs_are_not_a_regression_and_a_slower_mock_is_flagged(tmp_path: Path) -> None:
    result = _benchmark().false_alarm_check(1, duration_s=10, slower=0.2, out=tmp_path, progress=False)
    (pair,) = result.identical
    assert pair.verdict != "regression", pair
    assert result.slowdown_flagged, result.slower
    assert result.slower.verdict in ("regression", "inconclusive"), result.slower  # never "no regression"
