"""The command line: help, light imports, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import COMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_help_imports_neither_pandas_matplotlib_nor_gevent():
    code = (
        "import sys; from bench.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY=' + ','.join(m for m in ('pandas','matplotlib','gevent','locust','numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY="


def test_unknown_flag_is_a_usage_error_not_a_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "validate", "--no-such-flag"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


QUICKSTART = "scenarios/quickstart.yaml"


@pytest.mark.parametrize(
    ("command", "flags", "message"),
    [
        ("run", ["--slo", "foo"], "--slo 'foo': expected METRIC.STAT=LIMIT"),
        ("run", ["--slo", "ttft_ms.p77=5"], "unknown statistic 'p77'"),
        ("run", ["--slo", "ttft_ms.p95=abc"], "'abc' is not a number"),
        ("run", ["--window", "abc"], "--window 'abc': expected START:END"),
        ("run", ["--window", "9:3"], "need 0 <= START < END"),
        ("run", ["--drain-timeout", "-1"], "--drain-timeout -1"),
        ("ui", ["--drain-timeout", "-1"], "--drain-timeout -1"),
        ("ui", ["--processes", "-2"], "--processes -2"),
        ("ui", ["--web-port", "70000"], "--web-port 70000"),
    ],
)
def test_every_flag_is_checked_before_any_load(tmp_path, capsys, command, flags, message):
    """One line, exit 2, well under a second, and no run directory: nothing was started (for ``ui``:
    no dashboard either)."""
    results = tmp_path / "results"
    scenario = Path(__file__).resolve().parents[1] / QUICKSTART
    started = time.perf_counter()
    code = main([command, str(scenario), "--results-dir", str(results), *flags])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert elapsed < 1.0, elapsed
    assert not results.exists()


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_scenario_file_is_a_one_line_error_naming_the_file(tmp_path, capsys, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    for command in (["validate", str(path)], ["run", str(path), "--results-dir", str(tmp_path / "r")]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0] and "empty" in err[0], err
    assert not (tmp_path / "r").exists()
