"""The error tree: one root, one-line messages that say where; the CLI turns them into exit code 2."""

from __future__ import annotations

import sys
import types

import pytest

from bench import cli
from bench.errors import ChatbenchError, ScenarioError


def test_scenario_error_names_file_and_key():
    err = ScenarioError("must be between 0 and 1, got 3", file="s.yaml", key="sampling.top_p")
    assert str(err) == "s.yaml: sampling.top_p: must be between 0 and 1, got 3"
    assert isinstance(err, ChatbenchError) and err.exit_code == 2


def _fake_command(monkeypatch, exc: BaseException) -> None:
    module = types.ModuleType("fake_command")
    module.add_arguments = lambda parser: None  # type: ignore[attr-defined]

    def run(args):
        raise exc

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_command", module)
    monkeypatch.setitem(cli.COMMANDS, "fake", cli.Command("fake_command", "a fake command"))


def test_cli_prints_project_error_as_one_line_and_exits_2(monkeypatch, capsys):
    _fake_command(monkeypatch, ScenarioError("unknown key 'tempreature'", file="a.yaml", key="sampling"))
    assert cli.main(["fake"]) == 2
    err = capsys.readouterr().err
    assert err == "chatbench: error: a.yaml: sampling: unknown key 'tempreature'\n"


def test_cli_keeps_the_traceback_of_a_bug(monkeypatch):
    _fake_command(monkeypatch, ZeroDivisionError("a bug"))
    with pytest.raises(ZeroDivisionError):
        cli.main(["fake"])
