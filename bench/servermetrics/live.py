"""The server's latest signals while a run goes on, for a live view (standard library only, no pandas).

    from bench.servermetrics.live import LiveServerMetrics
    live = LiveServerMetrics(run_dir)        # once per run
    live.latest()                            # each refresh: a small JSON-able dict, or None before any scrape

It reads what the scraper appended to ``run_dir/server_metrics.jsonl`` since the last call (never the
whole file again) and keeps the last two successful scrapes. ``latest()`` gives:

    {"server": "vLLM", "t_s": <epoch of the scrape>, "age_s": 0.4,
     "running": 8.0, "waiting": 3.0, "kv_usage": 0.97 | None, "prefix_hit_rate": ... | None,
     "generated_tokens_per_s": 412.0 | None, "prompt_tokens_per_s": ... | None, "preemptions_per_s": ...,
     "scrapes_ok": 41, "scrapes_failed": 0, "last_error": None | "HTTP 404 Not Found"}

Gauges are those of the latest scrape (summed over label sets, KV usage averaged, as in
``bench.servermetrics.signals``); ``*_per_s`` is a counter's increase between the last two scrapes
divided by the time between them; a counter that went down (a restart) gives None for that interval.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from bench.servermetrics.names import Server, detect_server
from bench.servermetrics.store import JSONL

__all__ = ["LiveServerMetrics"]

_RATES = {"generated_tokens": "generated_tokens_per_s", "prompt_tokens": "prompt_tokens_per_s",
          "preemptions": "preemptions_per_s"}  # fmt: skip


def _sums(samples: list[list[Any]]) -> tuple[dict[str, float], dict[str, int]]:
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for _family, name, _labels, value in samples:
        totals[name] = totals.get(name, 0.0) + float(value)
        counts[name] = counts.get(name, 0) + 1
    return totals, counts


class LiveServerMetrics:
    """Incremental reader of one run's scraper output."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / JSONL
        self._offset = 0
        self._partial = b""
        self._last: tuple[float, dict[str, float], dict[str, int]] | None = None
        self._previous: tuple[float, dict[str, float], dict[str, int]] | None = None
        self._server: Server | None = None
        self._ok = 0
        self._failed = 0
        self._last_error: str | None = None

    def _read(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # a line the scraper is still writing
        for raw in lines:
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(line, dict):
                continue
            if not line.get("ok"):
                self._failed += 1
                self._last_error = str(line.get("error") or line.get("kind"))
                continue
            self._ok += 1
            self._last_error = None
            totals, counts = _sums(line.get("s") or [])
            if self._server is None:
                self._server = detect_server(set(totals))
            self._previous, self._last = self._last, (float(line["t_s"]), totals, counts)

    def latest(self) -> dict[str, Any] | None:
        """The latest signals (see the module docstring); None until a scrape was written."""
        self._read()
        if self._last is None:
            if not self._failed:
                return None
            return {
                "server": None,
                "scrapes_ok": 0,
                "scrapes_failed": self._failed,
                "last_error": self._last_error,
            }
        t, totals, counts = self._last
        out: dict[str, Any] = {
            "server": self._server.name if self._server else None,
            "t_s": t,
            "age_s": max(0.0, time.time() - t),
            "scrapes_ok": self._ok,
            "scrapes_failed": self._failed,
            "last_error": self._last_error,
        }
        if self._server is None:
            return out
        for signal, src in self._server.signals.items():
            name = next((n for n in src.names if n in totals), None)
            if src.kind == "gauge":
                if name is None:
                    out[signal] = None
                else:
                    out[signal] = totals[name] / (counts[name] if src.how == "mean" else 1)
            elif src.kind == "counter":
                out[_RATES[signal]] = self._rate(name)
            else:
                dens = [n for n in src.denominator if n in totals]
                num = self._delta(name)
                den = sum(d for d in (self._delta(n) for n in dens) if d is not None) if dens else None
                out[signal] = num / den if num is not None and den else None
        return out

    def _delta(self, name: str | None) -> float | None:
        if name is None or self._last is None or self._previous is None:
            return None
        a, b = self._previous[1].get(name), self._last[1].get(name)
        if a is None or b is None or b < a:
            return None
        return b - a

    def _rate(self, name: str | None) -> float | None:
        delta = self._delta(name)
        if delta is None or self._last is None or self._previous is None:
            return None
        dt = self._last[0] - self._previous[0]
        return delta / dt if dt > 0 else None
