"""Helpers for scenario tests: write a scenario (and the prompt files it names) into a temp folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from bench.scenario.loader import load_scenario
from bench.scenario.model import Scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """write_scenario(yaml_text, files={"name": text}) -> path of scenario.yaml in a fresh folder."""

    def write(text: str, files: Mapping[str, str] | None = None, name: str = "scenario.yaml") -> Path:
        for rel, content in (files or {}).items():
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(write_scenario: Callable[..., Path]) -> Callable[..., Scenario]:
    """load(yaml_text, files=..., overrides=..., environ=...) -> Scenario (environment empty by default)."""

    def _load(text: str, files: Mapping[str, str] | None = None, overrides=None, environ=None) -> Scenario:
        return load_scenario(write_scenario(text, files), overrides, environ=environ or {})

    return _load


@pytest.fixture(autouse=True)
def _no_chatbench_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CHATBENCH_HOST in the developer's shell must not change what these tests see."""
    for name in ("CHATBENCH_HOST", "CHATBENCH_MODEL", "CHATBENCH_PROFILE"):
        monkeypatch.delenv(name, raising=False)
