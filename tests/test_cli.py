"""The command line: help, light imports, one-line errors."""

from __future__ import annotations

import subprocess
import sys

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
