"""The live figures of one test, folded from the record stream: what the LLM tab and its charts show.

``LiveStats.add(record)`` is the only call on the request path: it appends the record to a list.
``fold()`` (once a second, and before every read) sorts the pending records into one bucket per
second (by the second the request *ended* in, as the report counts) and per group, and folds each
bucket's latency values into mergeable sketches (``bench.live.sketch``). Groups: ``all``, each prompt
set (``set:NAME``), ``stream`` and ``non-stream``.

What is counted (the same rules as the report, ``bench.analysis.metrics``):

- requests cancelled by the run itself (``cancelled``) are left out of everything and counted apart;
- in flight = requests sent and not yet ended, now, per group (each load generator counts its own);
- requests = all other requests; failed = those with an ``error_kind``, by kind, HTTP errors with
  their status; *throttled* = HTTP 429, shown apart from the other failures;
- latencies (ms) are the registry's (``bench.metrics``), each with its own per-record rule: TTFT,
  TPOT = (E2E - TTFT) / (output tokens - 1), ITL (every chunk gap, pooled), E2E of successful requests,
  client lag (open loop) of every request that carries it, and whatever latency the registry gains;
- output tokens/s counts tokens when they *arrived*, as the report's throughput over time does
  (``bench.analysis.series.tokens_over_time``): a streamed answer's tokens are spread evenly over its
  content chunks, which arrived at ``started_at_s + ttft_ms / 1000`` and then after each gap of
  ``itl_ms``; a non-streamed answer's arrive when it ended. They are known when the request ends, so a
  chart point already drawn (up to ``_REVISE_S`` back) is revised when a long answer's tokens land in it;
- requests/s counts successful requests by the second they ended; both over the span: the last
  ``window_s`` seconds (or the test's age when younger), or the whole test since its start;
- goodput = successful requests meeting every per-request SLO limit (for each metric the smallest limit
  of its statistics; ITL judged by the request's largest gap), per second, and their share of requests;
- each SLO's verdict: the sketch's statistic of the whole test so far against the limit, and the error
  rate failed / requests.

Percentiles carry the sketch's relative error (``RELATIVE_ACCURACY``); the report stays exact.
No locust, gevent or pandas here: the class is fed and read by ``bench.live.web``.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from bench import metrics
from bench.live.sketch import Sketch
from bench.records import Record

__all__ = ["GROUP_ALL", "LATENCY_METRICS", "LiveSlo", "LiveStats", "per_request_limits"]

GROUP_ALL = "all"
_LATENCIES = metrics.all_metrics(kind="latency")
LATENCY_METRICS: tuple[str, ...] = tuple(m.name for m in _LATENCIES)
"""The latencies the live view keeps a sketch of: the registry's (``bench.metrics``), whose per-record
computation (``record_samples``, ``record_value``) is the live view's rule for each."""
_PER_REQUEST_SLO = {m.name for m in _LATENCIES if m.slo}
_SERIES_KEYS = (
    "t_s",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "tpot_p50_ms",
    "tpot_p95_ms",
    "output_tokens_per_s",
    "requests_per_s",
    "errors_per_s",
)
_SETTLE_S = 3  # a second's chart point is drawn this long after it ended (records from workers arrive late)
_REVISE_S = 120  # tokens by arrival are kept per second this long, to revise the chart points they land in
_MAX_POINTS = 86_400  # one point a second: a day of chart


@dataclass(frozen=True)
class LiveSlo:
    """The SLOs as the live view judges them: (metric, stat, limit) thresholds and an error-rate bound."""

    thresholds: tuple[tuple[str, str, float], ...] = ()
    error_rate: float | None = None

    @classmethod
    def from_scenario(cls, slo: Any) -> LiveSlo:
        if slo is None:
            return cls()
        return cls(tuple((t.metric, t.stat, float(t.limit)) for t in slo.thresholds), slo.error_rate)


def per_request_limits(slo: LiveSlo) -> dict[str, float]:
    """Per-request limits for goodput: for each latency metric, the smallest limit of its statistics."""
    limits: dict[str, float] = {}
    for metric, _stat, limit in slo.thresholds:
        if metric in _PER_REQUEST_SLO:
            limits[metric] = min(limit, limits.get(metric, limit))
    return limits


@dataclass
class _Counts:
    requests: int = 0
    failed: int = 0
    cancelled: int = 0
    good: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def merge(self, other: _Counts) -> None:
        self.requests += other.requests
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.good += other.good
        for kind, n in other.by_kind.items():
            self.by_kind[kind] = self.by_kind.get(kind, 0) + n

    @property
    def succeeded(self) -> int:
        return self.requests - self.failed


class _Bucket:
    """One group's requests that ended in one second (or, merged, over a span)."""

    __slots__ = ("counts", "pending", "sketches")

    def __init__(self) -> None:
        self.counts = _Counts()
        self.sketches: dict[str, Sketch] = {}
        self.pending: dict[str, array[float]] = {}

    def values(self, metric: str, vs: Iterable[float]) -> None:
        buf = self.pending.get(metric)
        if buf is None:
            buf = self.pending[metric] = array("d")
        buf.extend(vs)

    def flush(self) -> None:
        for metric, buf in self.pending.items():
            if buf:
                self.sketches.setdefault(metric, Sketch()).add_many(buf)
        self.pending = {}

    def merge(self, other: _Bucket) -> None:
        other.flush()
        self.counts.merge(other.counts)
        for metric, sk in other.sketches.items():
            self.sketches.setdefault(metric, Sketch()).merge(sk)


def kind_label(record: Record) -> str:
    """How a failure is named live: the error kind, HTTP errors with their status, 429 as throttled."""
    if record.error_kind == "http_error":
        return "throttled" if record.status == 429 else f"http_error {record.status}"
    return str(record.error_kind)


class LiveStats:
    """The live figures of one test (see the module docstring)."""

    def __init__(
        self,
        *,
        prompt_sets: Sequence[str] = (),
        slo: LiveSlo | None = None,
        started_at_s: float | None = None,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        inflight: Callable[[], Iterable[tuple[str, bool, int]]] | None = None,
        cpu_limit_pct: float = 50.0,
    ) -> None:
        self.slo = slo or LiveSlo()
        self.limits = per_request_limits(self.slo)
        self.window_s = window_s
        self.clock = clock
        self.started_at_s = clock() if started_at_s is None else started_at_s
        self.inflight = inflight
        self.cpu_limit_pct = cpu_limit_pct
        self.groups: list[str] = [GROUP_ALL, *(f"set:{name}" for name in prompt_sets), "stream", "non-stream"]
        self._pending: list[Record] = []
        self._seconds: dict[int, dict[str, _Bucket]] = {}
        self._total: dict[str, _Bucket] = {g: _Bucket() for g in self.groups}
        self._pointed = int(self.started_at_s) - 1  # the last second with a chart point
        self.series: dict[str, deque[float | None]] = {k: deque(maxlen=_MAX_POINTS) for k in _SERIES_KEYS}
        self._cpu: dict[str, deque[tuple[int, float]]] = {}
        # output tokens by the second they arrived: per group for the last _REVISE_S s, and in total
        self._tokens: dict[int, dict[str, float]] = {}
        self._tokens_total: dict[str, float] = {}
        self.records = 0

    # -- the request path ------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        """Take one finished record (cheap: the work is done in ``fold``)."""
        self._pending.append(record)

    # -- folding -----------------------------------------------------------------------------------

    def fold(self) -> None:
        """Sort the pending records into buckets, fold their values into sketches, draw closed seconds."""
        pending, self._pending = self._pending, []
        touched: dict[int, _Bucket] = {}
        for record in pending:
            self._fold_one(record, touched)
        for bucket in touched.values():
            bucket.flush()
        self._close_seconds(self.clock())

    def _fold_one(self, r: Record, touched: dict[int, _Bucket]) -> None:
        self.records += 1
        end_s = r.started_at_s + (r.e2e_ms or 0.0) / 1000.0
        second = int(end_s)
        buckets = self._seconds.get(second)
        if buckets is None:
            buckets = self._seconds[second] = {}
        names = (GROUP_ALL, f"set:{r.prompt_set}", "stream" if r.stream else "non-stream")
        targets = []
        for name in names:
            b = buckets.get(name)
            if b is None:
                b = buckets[name] = _Bucket()
                if name not in self._total:
                    self.groups.insert(len(self.groups) - 2, name)
                    self._total[name] = _Bucket()
            touched[id(b)] = b
            targets.append(b)
        if r.lg_cpu_pct is not None:
            samples = self._cpu.setdefault(r.worker, deque(maxlen=64))
            if not samples or samples[-1][0] != second:
                samples.append((second, r.lg_cpu_pct))
        if r.error_kind == "cancelled":
            for b in targets:
                b.counts.cancelled += 1
            return
        latencies = [(m.name, got) for m in _LATENCIES if (got := m.record_samples(r))]
        label = None if r.error_kind is None else kind_label(r)
        good = label is None and self._good(r)
        if label is None and r.output_tokens:
            self._arrived(r, names)
        for b in targets:
            c = b.counts
            c.requests += 1
            if label is not None:
                c.failed += 1
                c.by_kind[label] = c.by_kind.get(label, 0) + 1
            else:
                c.good += good
            for metric, got in latencies:
                b.values(metric, got)

    def _arrived(self, r: Record, groups: tuple[str, ...]) -> None:
        """Count a successful answer's output tokens in the seconds its chunks arrived (module docstring)."""
        tokens = float(r.output_tokens or 0)
        per_second: dict[int, float] = {}
        if r.stream and r.ttft_ms is not None:
            gaps = r.itl_ms
            first_at = r.started_at_s + r.ttft_ms / 1000.0
            first = int(first_at)
            cum = list(accumulate(gaps))  # each later chunk's ms after the first (in C)
            last = int(first_at + cum[-1] / 1000.0) if cum else first
            if last == first:  # most answers: every chunk in one second
                per_second[first] = tokens
            else:  # the chunks before each second's end, by a binary search in the running sum
                share = tokens / (len(gaps) + 1)
                done = 0
                for second in range(first, last):
                    upto = 1 + bisect_left(cum, (second + 1 - first_at) * 1000.0)
                    per_second[second] = (upto - done) * share
                    done = upto
                per_second[last] = (len(gaps) + 1 - done) * share
        else:
            per_second[int(r.started_at_s + (r.e2e_ms or 0.0) / 1000.0)] = tokens
        totals = self._tokens_total
        for group in groups:
            totals[group] = totals.get(group, 0.0) + tokens
        horizon = self._pointed - _REVISE_S
        for second, amount in per_second.items():
            if second <= horizon:
                continue  # older than any point still revised: in the totals only
            at = self._tokens.get(second)
            if at is None:
                at = self._tokens[second] = {}
            for group in groups:
                at[group] = at.get(group, 0.0) + amount
            if second <= self._pointed:  # that second's point is drawn: revise it
                index = len(self.series["t_s"]) - 1 - (self._pointed - second)
                if index >= 0:
                    self.series["output_tokens_per_s"][index] = at[GROUP_ALL]

    def tokens(self, group: str, first_second: int | None = None) -> float:
        """Output tokens of ``group`` that arrived since ``first_second`` (None: since the start)."""
        if first_second is None:
            return self._tokens_total.get(group, 0.0)
        return sum(at.get(group, 0.0) for second, at in self._tokens.items() if second >= first_second)

    def _good(self, r: Record) -> bool:
        """Every per-request limit holds (a metric the request does not have does not judge it)."""
        for metric, limit in self.limits.items():
            value = metrics.get(metric).record_value(r)
            if value is not None and value > limit:
                return False
        return True

    def _close_seconds(self, now: float) -> None:
        horizon = int(now) - _SETTLE_S
        while self._pointed < horizon:
            self._pointed += 1
            self._point(self._pointed)
        for second in [s for s in self._tokens if s < self._pointed - _REVISE_S]:
            del self._tokens[second]
        oldest_kept = int(now) - int(self.window_s)
        for second in [s for s in self._seconds if s < oldest_kept]:
            for name, bucket in self._seconds.pop(second).items():
                self._total[name].merge(bucket)

    def _point(self, second: int) -> None:
        bucket = self._seconds.get(second, {}).get(GROUP_ALL)
        c = bucket.counts if bucket else _Counts()
        ttft = bucket.sketches.get("ttft_ms") if bucket else None
        tpot = bucket.sketches.get("tpot_ms") if bucket else None
        row: dict[str, float | None] = {
            "t_s": float(second),
            "ttft_p50_ms": ttft.quantile(0.5) if ttft else None,
            "ttft_p95_ms": ttft.quantile(0.95) if ttft else None,
            "tpot_p50_ms": tpot.quantile(0.5) if tpot else None,
            "tpot_p95_ms": tpot.quantile(0.95) if tpot else None,
            "output_tokens_per_s": self._tokens.get(second, {}).get(GROUP_ALL, 0.0),
            "requests_per_s": float(c.succeeded),
            "errors_per_s": float(c.failed),
        }
        for key in _SERIES_KEYS:
            self.series[key].append(row[key])

    # -- reading -----------------------------------------------------------------------------------

    def span(self, group: str, *, window: bool) -> tuple[_Bucket, float]:
        """The merged bucket of ``group`` over the last ``window_s`` seconds (``window``) or the whole test,
        and the span's length in seconds."""
        now = self.clock()
        age = max(now - self.started_at_s, 1e-9)
        out = _Bucket()
        if window:
            # whole seconds [int(now) - window_s, now): window_s full seconds and the current one
            first = int(now) - int(self.window_s)
            for second, buckets in self._seconds.items():
                if second >= first and group in buckets:
                    out.merge(buckets[group])
            return out, min(now - first, age)
        out.merge(self._total[group])
        for buckets in self._seconds.values():
            if group in buckets:
                out.merge(buckets[group])
        return out, age

    def view(self, group: str, *, window: bool) -> dict[str, Any]:
        """The figures of one group over one span, as plain numbers (None where nothing was measured)."""
        bucket, span_s = self.span(group, window=window)
        tokens = self.tokens(group, int(self.clock()) - int(self.window_s) if window else None)
        c = bucket.counts
        lat: dict[str, dict[str, float | None]] = {}
        for metric in LATENCY_METRICS:
            sk = bucket.sketches.get(metric)
            lat[metric] = {
                p: (sk.quantile(q) if sk else None) for p, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
            }
            lat[metric]["n"] = sk.count if sk else 0
        slo = []
        for metric, stat, limit in self.slo.thresholds:
            sk = bucket.sketches.get(metric)
            measured = sk.stat(stat) if sk else None
            slo.append(_verdict(f"{metric}.{stat}", measured, limit))
        if self.slo.error_rate is not None:
            rate = c.failed / c.requests if c.requests else None
            slo.append(_verdict("error_rate", rate, self.slo.error_rate))
        return {
            "span_s": span_s,
            "requests": c.requests,
            "succeeded": c.succeeded,
            "failed": c.failed,
            "cancelled": c.cancelled,
            "by_kind": dict(sorted(c.by_kind.items())),
            "latency_ms": lat,
            "output_tokens_per_s": tokens / span_s,
            "requests_per_s": c.succeeded / span_s,
            "goodput_rps": c.good / span_s if self.limits else None,
            "good_share": (c.good / c.requests if c.requests else None) if self.limits else None,
            "slo": slo,
        }

    def bottleneck(self) -> dict[str, Any] | None:
        """The load generator's sustained CPU (p90 of the last ``window_s`` seconds' samples) per process,
        and a warning when one is above the limit past which timings are inflated."""
        now = int(self.clock())
        worst: tuple[str, float] | None = None
        for worker, samples in self._cpu.items():
            recent = sorted(v for s, v in samples if s > now - self.window_s - _SETTLE_S)
            if not recent:
                continue
            sustained = recent[int(0.9 * (len(recent) - 1))]
            if worst is None or sustained > worst[1]:
                worst = (worker, sustained)
        if worst is None:
            return None
        return {
            "worker": worst[0],
            "cpu_pct": worst[1],
            "limit_pct": self.cpu_limit_pct,
            "warning": worst[1] > self.cpu_limit_pct,
        }

    def in_flight(self) -> dict[str, int] | None:
        """Requests in flight now per group, from ``inflight()``'s (prompt set, stream, count) triples
        (every load generator's, as last heard); None when the run does not say."""
        if self.inflight is None:
            return None
        out = dict.fromkeys(self.groups, 0)
        for prompt_set, stream, n in self.inflight():
            for group in (GROUP_ALL, f"set:{prompt_set}", "stream" if stream else "non-stream"):
                out[group] = out.get(group, 0) + n
        return out

    def series_since(self, index: int) -> dict[str, list[float | None]]:
        """The chart points from ``index`` on: one per second since the test started, drawn ``_SETTLE_S``
        after the second ended; ``t_s`` is the end of the second, in seconds since the test start. The
        tokens/s of a drawn point may still grow (``_REVISE_S``): the charts page fetches its last points
        again."""
        out: dict[str, list[float | None]] = {}
        for key, values in self.series.items():
            part = list(values)[index:]
            if key == "t_s":  # the end of each one-second bucket, in seconds since the test start
                part = [None if t is None else t + 1.0 - self.started_at_s for t in part]
            out[key] = part
        return out


def _verdict(name: str, measured: float | None, limit: float) -> dict[str, Any]:
    state = "none" if measured is None else ("pass" if measured <= limit else "fail")
    return {"name": name, "measured": measured, "limit": limit, "state": state}


def fold_all(stats: LiveStats, records: Iterable[Record]) -> LiveStats:
    """Add ``records`` and fold them (tests and the benchmark)."""
    for r in records:
        stats.add(r)
    stats.fold()
    return stats
