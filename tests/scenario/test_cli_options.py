"""The shared override flags and `chatbench validate` as a user runs it."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from bench.cli import main
from bench.scenario.cli_options import add_override_arguments, overrides_from_args, parse_duration
from bench.scenario.model import SEED_BODY_KEYS

from .conftest import SCENARIOS


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("2m", 120.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("1m30s", 90.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "0", "0s", "m", "-3"])
def test_parse_duration_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_override_arguments(p)
    return p


def test_only_given_flags_become_overrides():
    assert overrides_from_args(parser().parse_args([])) == {}
    args = parser().parse_args(
        [
            "--host",
            "http://127.0.0.1:8000",
            "-u",
            "8",
            "-r",
            "2",
            "-t",
            "2m",
            "--rate",
            "3.5",
            "--profile",
            "openai",
        ]
    )
    assert overrides_from_args(args) == {
        "host": "http://127.0.0.1:8000",
        "profile": "openai",
        "users": 8,
        "spawn_rate": 2.0,
        "duration_s": 120.0,
        "rate_rps": 3.5,
    }


@pytest.mark.parametrize(
    "flags", [["-u", "0"], ["-u", "two"], ["--rate", "-1"], ["-t", "soon"], ["--profile", "x"]]
)
def test_bad_flag_values_are_usage_errors(flags, capsys):
    with pytest.raises(SystemExit) as info:
        parser().parse_args(flags)
    assert info.value.code == 2


def test_cli_options_module_imports_only_the_standard_library():
    code = (
        "import sys; import bench.scenario.cli_options\n"
        "print(','.join(m for m in ('yaml', 'numpy', 'pandas', 'gevent', 'locust') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_validate_prints_the_summary_and_an_example_body(capsys):
    assert main(["validate", str(SCENARIOS / "chat-mix.yaml")]) == 0
    out = capsys.readouterr().out
    assert "zh: jsonl" in out and "36 conversations" in out
    assert "first-request prompt tokens: min" in out
    assert "grid: 12 combinations of temperature, top_p" in out
    assert "stream: 30% of requests" in out
    assert "stage 0: 30 s, 6 users" in out
    assert "e2e_ms p95 <= 5000" in out
    body = json.loads(out.split("POST /v1/chat/completions\n", 1)[1].rsplit("ok:", 1)[0])
    assert set(body) == set(SEED_BODY_KEYS)


def test_validate_applies_overrides_and_json_output(capsys):
    assert (
        main(
            [
                "validate",
                str(SCENARIOS / "quickstart.yaml"),
                "--host",
                "http://127.0.0.1:8000",
                "-u",
                "3",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["target"]["base_url"] == "http://127.0.0.1:8000"
    assert data["load"]["stages"][0]["users"] == 3


def test_validate_reads_chatbench_host_from_the_environment():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "validate", str(SCENARIOS / "seed-api.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "CHATBENCH_HOST": "http://127.0.0.1:9000"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "target: http://127.0.0.1:9000/v1/chat/completions" in proc.stdout


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_validate_accepts_every_example(path, capsys):
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ok: the scenario is valid")
