"""The scraper process: GET one Prometheus ``/metrics`` URL every ``interval_s``, one JSON line per scrape.

    python -m bench.servermetrics.scraper URL OUT.jsonl --interval 1 --timeout 0.8

It is a process of its own (started by ``bench.servermetrics.process``), so a slow, stalled or missing
endpoint never delays a request of the load generator. Each scrape has a hard deadline (``--timeout``,
for the whole answer, not per read); ticks fall on an absolute schedule (``start + k * interval``) and
a tick missed by a slow scrape is skipped, never bunched. Redirects are not followed: only the one URL
is ever asked. The body is parsed with ``prometheus_client``'s text parser.

Lines (``t_s``: wall-clock epoch seconds at the middle of the scrape, the run's clock; ``ms``: how long
the scrape took):

    {"t_s": 1796115318.2, "ms": 2.1, "ok": true, "s": [[family, sample name, labels, value], ...],
     "meta": {family: [type, help], ...}}        # meta: families not seen in an earlier line
    {"t_s": 1796115319.2, "ms": 0.4, "ok": false, "kind": "http_404", "error": "HTTP 404 Not Found"}

``labels`` is the label set as sorted-key JSON (``""`` for none). ``*_created`` samples (a counter's
creation time) are left out. Failure kinds: ``refused``, ``timeout``, ``http_<status>``,
``not_prometheus``, ``too_large``, ``error``. After ``GIVE_UP`` failures in a row with no scrape
ever succeeding on a 404 or a body that is not Prometheus text, it stops asking (the server has no
metrics) and says so in a last line ``{"ok": false, "kind": ..., "gave_up": true}``.

SIGTERM ends it after one last scrape, so counters cover the whole run; that line also carries
``cpu_s``, the scraper's own CPU time (user + system seconds), the cost of scraping. It holds a lifeline to the
chatbench process that started it (``bench.lifeline``, as Locust and the mock do) and stops at once
when that process is gone, however it ended. SIGINT is ignored: the runner stops it after Locust.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.lifeline import inherited_fd, sleep_watching

__all__ = ["GIVE_UP", "MAX_BODY_BYTES", "Scraper", "main", "parse_text"]

GIVE_UP = 5
MAX_BODY_BYTES = 32 * 1024 * 1024


class _Failure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def parse_text(text: str) -> tuple[list[list[Any]], dict[str, list[str]]]:
    """Samples ``[family, name, labels-json, value]`` and ``{family: [type, help]}`` of Prometheus text.

    Raises ``_Failure("not_prometheus")`` when the text does not parse or holds no sample.
    """
    from prometheus_client.parser import text_string_to_metric_families

    samples: list[list[Any]] = []
    meta: dict[str, list[str]] = {}
    try:
        for family in text_string_to_metric_families(text):
            meta[family.name] = [family.type, family.documentation]
            for s in family.samples:
                if s.name.endswith("_created"):
                    continue
                labels = orjson.dumps(s.labels, option=orjson.OPT_SORT_KEYS).decode() if s.labels else ""
                samples.append([family.name, s.name, labels, float(s.value)])
    except (ValueError, TypeError, IndexError) as exc:
        raise _Failure("not_prometheus", f"not Prometheus text: {str(exc)[:120]}") from None
    if not samples:
        raise _Failure("not_prometheus", "not Prometheus text: no sample in the answer")
    return samples, meta


class Scraper:
    """One URL, one kept-alive connection (reopened after any failure)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout_s = timeout_s
        self.conn: http.client.HTTPConnection | None = None
        self.seen: set[str] = set()

    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.conn = cls(self.host, self.port, timeout=self.timeout_s)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def fetch(self) -> str:
        """The body of one GET, within ``timeout_s`` for the whole answer."""
        deadline = time.monotonic() + self.timeout_s
        conn = self._connect()
        try:
            conn.request("GET", self.target, headers={"Accept": "text/plain;version=0.0.4"})
            resp = conn.getresponse()
            if resp.status != 200:
                resp.read(MAX_BODY_BYTES)
                raise _Failure(f"http_{resp.status}", f"HTTP {resp.status} {resp.reason}".strip())
            chunks, size = [], 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Failure("timeout", f"no complete answer within {self.timeout_s:g} s")
                if conn.sock is not None:
                    conn.sock.settimeout(left)
                chunk = resp.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _Failure("too_large", f"answer larger than {MAX_BODY_BYTES // 2**20} MiB")
                chunks.append(chunk)
            will_close = resp.will_close
            resp.close()  # read1 does not mark the answer finished: close it to reuse the connection
            if will_close:
                self.close()
            return b"".join(chunks).decode("utf-8", "replace")
        except _Failure:
            self.close()
            raise
        except ConnectionRefusedError:
            self.close()
            raise _Failure("refused", f"connection refused by {self.host}:{self.port}") from None
        except TimeoutError:
            self.close()
            raise _Failure("timeout", f"no complete answer within {self.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise _Failure("error", f"{type(exc).__name__}: {exc}"[:200]) from None

    def scrape(self) -> dict[str, Any]:
        """One scrape as the JSON line to write."""
        wall0, mono0 = time.time(), time.monotonic()
        try:
            samples, meta = parse_text(self.fetch())
        except _Failure as failure:
            ms = (time.monotonic() - mono0) * 1000.0
            t_s = wall0 + ms / 2000.0
            return {"t_s": t_s, "ms": round(ms, 3), "ok": False, "kind": failure.kind, "error": str(failure)}
        ms = (time.monotonic() - mono0) * 1000.0
        new = {name: m for name, m in meta.items() if name not in self.seen}
        self.seen.update(new)
        line: dict[str, Any] = {"t_s": wall0 + ms / 2000.0, "ms": round(ms, 3), "ok": True, "s": samples}
        if new:
            line["meta"] = new
        return line


class _Stop(Exception):
    pass


def run(url: str, out: str, interval_s: float, timeout_s: float) -> int:
    state = {"stopping": False, "sleeping": False}

    def on_term(signum: int, frame: Any) -> None:
        state["stopping"] = True
        if state["sleeping"]:  # interrupt only the wait, never a scrape or a write half done
            raise _Stop

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    lifeline = inherited_fd()
    if lifeline is not None:
        os.set_blocking(lifeline, False)
    scraper = Scraper(url, timeout_s)
    failures, ever_ok, gave_up, orphaned = 0, False, False, False
    start = time.monotonic()
    tick = 0
    with open(out, "ab", buffering=0) as f:
        while not state["stopping"]:
            line = scraper.scrape()
            ever_ok = ever_ok or line["ok"]
            failures = 0 if line["ok"] else failures + 1
            if not ever_ok and failures >= GIVE_UP and line.get("kind") in ("http_404", "not_prometheus"):
                line["gave_up"] = gave_up = True
            f.write(orjson.dumps(line) + b"\n")
            if gave_up:
                break
            tick = max(tick + 1, int((time.monotonic() - start) / interval_s) + 1)
            try:
                state["sleeping"] = True
                if not state["stopping"] and not sleep_watching(
                    lifeline, max(0.0, start + tick * interval_s - time.monotonic())
                ):
                    orphaned = True
                    break
            except _Stop:
                pass
            finally:
                state["sleeping"] = False
        if state["stopping"] and not gave_up and not orphaned:
            # The last scrape after the load stopped: counters then cover every request of the run; it
            # also says what scraping cost (this process's CPU seconds, user + system).
            last = scraper.scrape()
            cpu = os.times()
            last["cpu_s"] = round(cpu.user + cpu.system, 4)
            f.write(orjson.dumps(last) + b"\n")
    scraper.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.servermetrics.scraper")
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=0.8)
    args = parser.parse_args(argv)
    return run(args.url, args.out, args.interval, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
