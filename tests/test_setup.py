"""The README's two commands are the whole set-up, and CI runs exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert block, "README.md has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_first_command_installs_what_running_needs_and_the_second_the_dev_tools():
    run, test = _readme_commands()[:2]
    assert "pip install -e . " in run and "[dev]" not in run and "chatbench run" in run
    assert "pip install -e '.[dev]'" in test and test.endswith("python -m pytest -q")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = {re.split(r"[<>=;\[ ]", d)[0] for d in project["dependencies"]}
    # What chatbench run imports is in the plain install (the report's plots, the terminal, the mock).
    assert {"locust", "pandas", "matplotlib", "pyarrow", "rich", "uvloop", "orjson"} <= needed
    assert {"pytest", "ruff", "mypy"} <= {
        re.split(r"[<>=; ]", d)[0] for d in project["optional-dependencies"]["dev"]
    }


def test_ci_runs_exactly_the_readme_test_command():
    test = _readme_commands()[1]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert test in ci
