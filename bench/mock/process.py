"""Start the mock as a subprocess on a free port and stop it again (standard library only).

The load side (gevent-patched Locust) and the CLI call this; the mock itself then runs on
asyncio/uvloop in its own process, never inside Locust's:

    with start_mock(MockSettings(batch_slots=4)) as mock:
        httpx.post(mock.url + "/v1/chat/completions", json=...)
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import IO

from bench.errors import MockError
from bench.lifeline import Lifeline
from bench.mock.settings import MockSettings

__all__ = ["MockHandle", "start_mock"]

_LISTENING = "chatbench mock listening on "


class MockHandle:
    """A running mock subprocess: ``url``, ``pid``, ``stop()``; a context manager that stops it."""

    def __init__(
        self, proc: subprocess.Popen[bytes], url: str, settings: MockSettings, lifeline: Lifeline
    ) -> None:
        self._proc = proc
        self.url = url
        self.pid = proc.pid
        self.settings = settings
        self._finalizer = weakref.finalize(self, _terminate, proc, 5.0, lifeline)
        self._lifeline = lifeline

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code (0 after a clean stop)."""
        self._finalizer.detach()
        return _terminate(self._proc, timeout_s, self._lifeline)

    def __enter__(self) -> MockHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MockHandle(url={self.url!r}, pid={self.pid})"


def _terminate(proc: subprocess.Popen[bytes], timeout_s: float, lifeline: Lifeline) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lifeline.cut()  # after the signal: two stop requests at once could meet a loop already closing
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


def start_mock(
    settings: MockSettings | None = None, *, log_path: str | Path | None = None, timeout_s: float = 15.0
) -> MockHandle:
    """Start ``python -m bench mock --port 0 ...`` and wait until it listens.

    The mock's stderr goes to ``log_path`` (or a temporary file); if the process dies or does not
    listen within ``timeout_s``, raise ``MockError`` with the end of what it wrote. The mock holds a
    lifeline to this process (``bench.lifeline``): it stops when this process ends, however it ends.
    """
    settings = settings or MockSettings()
    cmd = [sys.executable, "-m", "bench", "mock", *settings.to_args(), "--port", "0"]
    log: IO[bytes] = open(log_path, "ab") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    lifeline = Lifeline()
    spawn = lifeline.popen_kwargs(dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, **spawn)
    except OSError as exc:
        log.close()
        lifeline.cut()
        raise MockError(f"cannot start the mock ({' '.join(cmd)}): {exc}") from None
    lifeline.started()
    try:
        url = _wait_for_url(proc, timeout_s)
    except MockError as exc:
        _terminate(proc, 2.0, lifeline)
        if not log_path:
            log.seek(0)
        tail = _tail(log, log_path)
        log.close()
        raise MockError(f"{exc}{': ' + tail if tail else ''}") from None
    log.close()  # the child holds its own descriptor
    return MockHandle(proc, url, settings, lifeline)


def _wait_for_url(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    buffer = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise MockError(f"the mock did not start listening within {timeout_s:g} s")
            if not sel.select(left):
                continue
            data = os.read(proc.stdout.fileno(), 4096)
            if not data:
                code = proc.wait()
                raise MockError(f"the mock exited (code {code}) before it listened")
            buffer += data
    line = buffer.split(b"\n", 1)[0].decode(errors="replace").strip()
    if not line.startswith(_LISTENING):
        raise MockError(f"unexpected first line from the mock: {line!r}")
    return line[len(_LISTENING) :]


def _tail(log: IO[bytes], log_path: str | Path | None) -> str:
    try:
        data = Path(log_path).read_bytes() if log_path else log.read()
    except OSError:
        return ""
    lines = [ln for ln in data.decode(errors="replace").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""
