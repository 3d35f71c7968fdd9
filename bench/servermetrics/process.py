"""Start and stop the scraper process for one run (standard library only: the runner imports this).

``scraping(spec, base_url, run_dir)`` is a context manager around the load: it starts
``python -m bench.servermetrics.scraper`` (which takes its first scrape at once, before any request),
and on exit stops it (SIGTERM: one last scrape, after the load has stopped) and writes
``server_metrics.parquet`` and ``server_metrics.json``. The scraper dies with chatbench: it holds a
lifeline pipe to this process (``bench.lifeline``, as Locust and the mock do).
A scraper that cannot start, or a store that cannot be written, is a note, never a failed run.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.lifeline import Lifeline
from bench.servermetrics.spec import ServerMetricsSpec, metrics_url

__all__ = ["ScraperHandle", "scraping", "start_scraper"]

_STOP_S = 5.0


class ScraperHandle:
    """A running scraper process."""

    def __init__(
        self, proc: subprocess.Popen[bytes], url: str, interval_s: float, run_dir: Path, lifeline: Lifeline
    ) -> None:
        self.proc = proc
        self.lifeline = lifeline
        self.url = url
        self.interval_s = interval_s
        self.run_dir = run_dir

    def stop(self) -> None:
        """SIGTERM (the scraper takes a last scrape and exits), then SIGKILL if it does not."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(_STOP_S + 2 * self.interval_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self.lifeline.cut()


def start_scraper(url: str, run_dir: Path, *, interval_s: float, timeout_s: float) -> ScraperHandle:
    from bench.servermetrics.store import JSONL

    log = (run_dir / "server_metrics.log").open("ab")
    lifeline = Lifeline()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.servermetrics.scraper",
                url,
                str(run_dir / JSONL),
                "--interval",
                repr(interval_s),
                "--timeout",
                repr(timeout_s),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # a terminal's Ctrl-C reaches chatbench only, which stops it after Locust
            **lifeline.popen_kwargs(),
        )
    except OSError:
        lifeline.cut()
        raise
    finally:
        log.close()
    lifeline.started()
    return ScraperHandle(proc, url, interval_s, run_dir, lifeline)


@contextlib.contextmanager
def scraping(spec: ServerMetricsSpec, base_url: str, run_dir: Path) -> Iterator[ScraperHandle | None]:
    """Scrape the server's metrics while the body runs (nothing when the scenario turned it off)."""
    if not spec.enabled:
        yield None
        return
    url = metrics_url(spec, base_url)
    try:
        handle: ScraperHandle | None = start_scraper(
            url, run_dir, interval_s=spec.interval_s, timeout_s=spec.scrape_timeout_s
        )
    except OSError as exc:
        sys.stderr.write(f"chatbench: server metrics: cannot start the scraper: {exc}\n")
        handle = None
    try:
        yield handle
    finally:
        if handle is not None:
            handle.stop()
            _store(run_dir, url, spec.interval_s)


def _store(run_dir: Path, url: str, interval_s: float) -> Any:
    from bench.servermetrics.store import write_store

    try:
        return write_store(run_dir, url=url, interval_s=interval_s)
    except OSError as exc:
        sys.stderr.write(f"chatbench: server metrics: cannot write the store: {exc}\n")
        return None
