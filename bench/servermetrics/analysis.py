"""The server's metrics of a run read back and lined up with the client's records (pandas).

``load_server_view(run_dir, t0_s)`` reads ``server_metrics.parquet`` + ``server_metrics.json`` and maps
the server's names to the common signals (``bench.servermetrics.signals``), on the run's clock
(seconds since the run start ``t0_s``, as every other figure of the report).

Formulas:

- the cross-check: over the scraped span [first scrape, last scrape] (the first is taken before the
  first request, the last after the load stopped), ``server tokens`` = the increase of the server's
  generated-token counter; ``client tokens`` = the sum of ``output_tokens`` over the run's records that
  ended in that span (failed ones included when they carry a count); both divided by the span give
  tokens/s; ``difference %`` = (server - client) / client x 100, flagged above ``TOKEN_GAP_PCT``
  (5 %). They differ when other clients share the server, when the client's counts are estimates
  (chunks, a tokenizer) rather than the server's ``usage``, or when the counter lags (SGLang and TGI
  count a request's tokens when it finishes);
- over an interval (the steady window, a capacity step): ``running``/``waiting`` mean and max over the
  scrapes in it, ``kv_usage`` mean and peak, ``preemptions`` and token counters the increase between
  the counter interpolated at the interval's start and at its end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.servermetrics.names import SIGNALS, Server, detect_server
from bench.servermetrics.signals import signal_frame
from bench.servermetrics.store import PARQUET, STATUS

__all__ = [
    "KV_FULL",
    "TOKEN_GAP_PCT",
    "ServerView",
    "interval_signals",
    "knee_cause",
    "load_server_view",
    "saturation_cause",
    "server_summary",
    "step_signals",
    "token_check",
]

TOKEN_GAP_PCT = 5.0
KV_FULL = 0.9  # KV usage at or above this share counts as "full" in the saturation sentence
_COUNTERS = ("preemptions", "prompt_tokens", "generated_tokens")


@dataclass(frozen=True)
class ServerView:
    """One run's server metrics: the status of the scraping, the raw samples and the signals."""

    status: Mapping[str, Any]
    samples: pd.DataFrame  # t_s (epoch), family, name, labels, value
    server: Server | None
    signals: pd.DataFrame  # index t (s since the run start), one column per signal exposed
    t0_s: float

    @property
    def ok(self) -> bool:
        return bool(self.status.get("ok")) and not self.samples.empty

    def note(self) -> str | None:
        """The one note of a run whose server metrics could not be read (None when they could)."""
        url = self.status.get("url")
        if not self.status.get("ok"):
            why = self.status.get("first_error") or "no scrape"
            return f"server metrics: none from {url} ({why}); the report shows the client's view only"
        if self.server is None:
            return (
                f"server metrics: {url} serves Prometheus text but none of the names of vLLM, SGLang, TGI "
                "or llama.cpp; the raw samples are in server_metrics.parquet"
            )
        failed = sum((self.status.get("failed") or {}).values())
        if failed:
            return (
                f"server metrics: {failed} of {self.status.get('scrapes')} scrapes of {url} failed "
                f"(first: {self.status.get('first_error')})"
            )
        return None


def load_server_view(run_dir: str | Path, t0_s: float) -> ServerView | None:
    """The run's server metrics, or None when the run has none (scraping off, or an older run)."""
    import orjson

    run_dir = Path(run_dir)
    status_path = run_dir / STATUS
    if not status_path.is_file():
        return None
    try:
        status = orjson.loads(status_path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(status, dict):
        return None
    parquet = run_dir / PARQUET
    if parquet.is_file():
        samples = pd.read_parquet(parquet)
        for col in ("family", "name", "labels"):
            samples[col] = samples[col].astype(str)
    else:
        samples = pd.DataFrame({"t_s": [], "family": [], "name": [], "labels": [], "value": []})
    server = detect_server(set(samples["name"].unique())) if len(samples) else None
    signals = signal_frame(samples, server)
    signals.index = pd.Index(signals.index.to_numpy(dtype=float) - t0_s, name="t")
    return ServerView(status, samples, server, signals, t0_s)


def _at(series: pd.Series, t: float) -> float | None:
    """A cumulative counter interpolated at ``t`` (clamped to the scraped span)."""
    s = series.dropna()
    if s.empty:
        return None
    return float(np.interp(t, s.index.to_numpy(dtype=float), s.to_numpy(dtype=float)))


def interval_signals(view: ServerView, start_s: float, end_s: float) -> dict[str, Any]:
    """The signals over [start_s, end_s) (seconds since the run start); None for what is not exposed."""
    sig = view.signals
    inside = sig[(sig.index >= start_s) & (sig.index < end_s)]
    out: dict[str, Any] = {"scrapes": len(inside)}
    for name in ("running", "waiting", "kv_usage"):
        col = inside[name].dropna() if name in inside else pd.Series(dtype=float)
        out[name] = {"mean": float(col.mean()), "max": float(col.max())} if len(col) else None
    for name in _COUNTERS:
        if name not in sig:
            out[name] = None
            continue
        a, b = _at(sig[name], start_s), _at(sig[name], end_s)
        out[name] = None if a is None or b is None else b - a
    out["generated_tokens_per_s"] = (
        out["generated_tokens"] / (end_s - start_s)
        if out["generated_tokens"] is not None and end_s > start_s
        else None
    )
    if "prefix_hit_rate" in inside:
        col = inside["prefix_hit_rate"].dropna()
        out["prefix_hit_rate"] = float(col.mean()) if len(col) else None
    else:
        out["prefix_hit_rate"] = None
    return out


def token_check(view: ServerView, end_s: np.ndarray, output_tokens: np.ndarray) -> dict[str, Any] | None:
    """Server generated tokens against the client's output tokens over the scraped span (see above).

    ``end_s``: when each record ended (s since the run start); ``output_tokens``: its count (NaN: none).
    """
    sig = view.signals
    if "generated_tokens" not in sig or len(sig) < 2:
        return None
    first, last = float(sig.index[0]), float(sig.index[-1])
    span = last - first
    if span <= 0:
        return None
    server = float(sig["generated_tokens"].iloc[-1])
    counts = np.asarray(output_tokens, dtype=float)
    ends = np.asarray(end_s, dtype=float)
    inside = (ends >= first) & (ends <= last) & np.isfinite(counts)
    client = float(counts[inside].sum())
    diff = (server - client) / client * 100.0 if client > 0 else None
    return {
        "span_s": span,
        "server_tokens": server,
        "client_tokens": client,
        "server_tokens_per_s": server / span,
        "client_tokens_per_s": client / span,
        "difference_pct": diff,
        "flagged": diff is None or abs(diff) > TOKEN_GAP_PCT,
        "limit_pct": TOKEN_GAP_PCT,
    }


def server_summary(
    view: ServerView, end_s: np.ndarray, output_tokens: np.ndarray, window: tuple[float, float]
) -> dict[str, Any]:
    """The ``server_metrics`` block of ``summary.json``."""
    status = view.status
    out: dict[str, Any] = {
        "url": status.get("url"),
        "server": view.server.name if view.server else None,
        "scrapes": status.get("scrapes"),
        "scrapes_ok": status.get("ok"),
        "scrapes_failed": status.get("failed") or {},
        "scrape_ms_p50": status.get("scrape_ms_p50"),
        "signals_exposed": [s for s in SIGNALS if s in view.signals],
        "note": view.note(),
    }
    if view.ok and view.server is not None:
        out["window"] = interval_signals(view, *window)
        out["tokens"] = token_check(view, end_s, output_tokens)
        out["sources"] = _sources(view)
    return out


def _sources(view: ServerView) -> dict[str, dict[str, str]]:
    """signal -> {name, help} of the sample it was read from (help texts as the server sent them)."""
    assert view.server is not None
    present = set(view.samples["name"].unique())
    families = view.status.get("families") or {}
    name_to_family = dict(zip(view.samples["name"], view.samples["family"], strict=False))
    out = {}
    for signal, src in view.server.signals.items():
        name = next((n for n in src.names if n in present), None)
        if name is None:
            continue
        meta = families.get(name_to_family.get(name, name)) or ["", ""]
        out[signal] = {"name": name, "help": str(meta[1] if len(meta) > 1 else "")}
    return out


def saturation_cause(
    level: float, unit: str, signals: Mapping[str, Any] | None, seen_at: float | None = None
) -> str:
    """One line: what the server showed at the knee (``signals``: ``interval_signals`` of that step, or
    of the step after it, at load ``seen_at``)."""
    where = f"the knee at {level:g} {unit}"
    if not signals:
        return f"{where}: no server metrics for that step"
    causes = []
    waiting = signals.get("waiting")
    if waiting and waiting["mean"] > 0:
        causes.append(f"requests waiting > 0 (mean {waiting['mean']:.1f}, max {waiting['max']:.0f})")
    kv = signals.get("kv_usage")
    if kv and kv["max"] >= KV_FULL:
        causes.append(f"KV usage {kv['max'] * 100:.0f} %")
    pre = signals.get("preemptions")
    if pre:
        causes.append(f"{pre:.0f} preemptions")
    if causes:
        after = f" one step past it, at {seen_at:g} {unit}" if seen_at is not None else ""
        return f"{where} coincides with " + " and ".join(causes) + after
    parts = []
    if waiting is not None:
        parts.append("no request waiting")
    if kv is not None:
        parts.append(f"KV usage at most {kv['max'] * 100:.0f} %")
    if pre is not None:
        parts.append("no preemption")
    if not parts:
        return f"{where}: the server exposes no queue, KV or preemption signal"
    return f"{where}: the server shows {', '.join(parts)}; the limit is elsewhere (compute per token, the network or the load generator)"


def step_signals(run_dir: str | Path, t0_s: float, start_s: float, end_s: float) -> dict[str, Any] | None:
    """A capacity step's server signals over its measured window (None: no server metrics)."""
    view = load_server_view(run_dir, t0_s)
    if view is None or not view.ok or view.server is None:
        return None
    return interval_signals(view, start_s, end_s)


def knee_cause(steps: Sequence[Any], knee: Any, unit: str) -> str | None:
    """The one-line saturation cause at a sweep's knee, from the server's signals (None: no knee).

    ``steps``: the sweep's steps (``index``, ``level``, ``server``); ``knee``: its ``Knee``. The knee is
    the last level that still added throughput; what saturated shows in the next level's signals, so
    both are read: the first step at or after the knee whose server shows a cause gives the sentence.
    """
    if knee.index is None or knee.level is None:
        return None
    after = [s for s in steps if s.index >= knee.index][:2]
    for step in after:
        line = saturation_cause(
            knee.level, unit, step.server, None if step.index == knee.index else step.level
        )
        if " coincides with " in line:
            return line
    return saturation_cause(knee.level, unit, after[0].server if after else None)
