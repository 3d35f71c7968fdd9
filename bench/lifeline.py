"""A child process dies with chatbench, whatever ends chatbench: the lifeline pipe.

chatbench starts two kinds of child: the Locust process that sends the load (and, with
``--processes``, the workers Locust forks from it) and the embedded mock. If chatbench is killed
(``kill -9``, an OOM kill, a closed terminal), nothing in chatbench runs any more to stop them, and a
Locust child would go on sending load until its duration ends.

So each child gets the read end of a pipe whose only write end chatbench holds (``Lifeline``). The
kernel closes that write end when chatbench's process ends, however it ends; the child then reads end
of file and stops at once (``watch_gevent`` in Locust's processes, ``watch_asyncio`` in the mock). A
fork inherits the read end, so Locust's forked workers watch the same pipe. The pipe is also how
chatbench asks a child to stop: closing the write end.

One mechanism for both children, unlike ``PR_SET_PDEATHSIG``, which fires when the parent *thread*
ends (a mock started from a worker thread would die with it) and is cleared by ``fork`` (Locust's
workers would not have it). Standard library only (the mock imports it).
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ENV_VAR", "Lifeline", "inherited_fd", "sleep_watching", "watch_asyncio", "watch_gevent"]

ENV_VAR = "CHATBENCH_LIFELINE_FD"


class Lifeline:
    """The parent's side: ``popen_kwargs()`` for the child, ``started()`` after it, ``cut()`` to stop it."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()  # both non-inheritable until passed on

    def popen_kwargs(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``subprocess.Popen`` keyword arguments that hand the read end to the child."""
        base = dict(os.environ if env is None else env)
        base[ENV_VAR] = str(self._read_fd)
        return {"pass_fds": (self._read_fd,), "env": base}

    def started(self) -> None:
        """The child has its copy of the read end: close ours (only the child may hold it)."""
        if self._read_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._read_fd)
            self._read_fd = -1

    def cut(self) -> None:
        """Close the write end: the child (and what it forked) sees end of file and stops."""
        self.started()
        if self._write_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._write_fd)
            self._write_fd = -1


def inherited_fd() -> int | None:
    """The lifeline's read end handed to this process, or None (not started by chatbench).

    The variable is removed from the environment, so a process this one starts does not take an
    unrelated descriptor of the same number for a lifeline.
    """
    value = os.environ.pop(ENV_VAR, None)
    if not value:
        return None
    try:
        fd = int(value)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
    except (ValueError, OSError):
        return None
    return fd


def _say_gone(what: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"chatbench: the chatbench process that started this {what} is gone; stopping\n")
        sys.stderr.flush()


def _ended(fd: int) -> bool:
    """True when the (readable, non-blocking) lifeline is at end of file: the parent is gone."""
    try:
        return not os.read(fd, 64)
    except BlockingIOError:
        return False
    except OSError:
        return True


def watch_gevent(on_lost: Callable[[], None], what: str = "load generator") -> bool:
    """In a gevent process: call ``on_lost`` when the lifeline ends. False when there is none."""
    fd = inherited_fd()
    if fd is None:
        return False
    import gevent
    from gevent.socket import wait_read

    def watch() -> None:
        while True:
            wait_read(fd)
            if _ended(fd):
                _say_gone(what)
                on_lost()
                return

    os.set_blocking(fd, False)
    gevent.spawn(watch)
    return True


def watch_asyncio(loop: Any, on_lost: Callable[[], None], what: str = "mock") -> bool:
    """On an asyncio loop: call ``on_lost`` when the lifeline ends. False when there is none."""
    fd = inherited_fd()
    if fd is None:
        return False
    os.set_blocking(fd, False)

    def readable() -> None:
        if _ended(fd):
            loop.remove_reader(fd)
            _say_gone(what)
            on_lost()

    loop.add_reader(fd, readable)
    return True


def sleep_watching(fd: int | None, seconds: float) -> bool:
    """In a plain (blocking) process: sleep ``seconds``; False at once when the lifeline ``fd`` (from
    ``inherited_fd``, made non-blocking) ends. With no lifeline (``fd`` None) just sleep."""
    if fd is None:
        time.sleep(seconds)
        return True
    readable, _, _ = select.select([fd], [], [], seconds)
    if readable and _ended(fd):
        _say_gone("process")
        return False
    return True
