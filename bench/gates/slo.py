"""SLO verdicts: does a run meet its latency and error-rate objectives, computed on the exact numbers.

Each threshold ``METRIC.STAT <= LIMIT`` is checked against the statistic of the raw per-request values
of the merged records (``bench.gates.data.metric_values``: the successful requests that ended in the
steady-state window), with the one percentile definition of ``bench.stats.percentile``. The
error-rate bound is checked against failed / every request the run sent (all that started while load
was offered, the window's edges and an outage included). Which requests count is
``bench.analysis.selection``, the same as in the report. A threshold whose metric has no value at all (say a TTFT bound on a run without
streaming) fails, with a message saying so: an SLO that cannot be measured is not met.

An outage (``bench.analysis.outage``: the target answered nothing but failures for a stretch) fails
the gate whatever SLOs were set, even none: it is judged as one more check, ``outage_share`` (the share
of the offered load's time spent in outages) with a limit of 0, so every reader of the checks (the exit
code, JUnit, slo.md, the report, capacity steps) sees the failure without a rule of its own.

Open-loop arrivals the load generator dropped because its in-flight limit was full
(``load.arrival.max_inflight``; ``schedule.arrivals_dropped`` in ``run.json``) are judged the same way:
the server then got less load than the scenario offered, and the latencies it shows are those of the
load it could take. ``dropped_share`` = dropped / (sent + dropped), limit 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.analysis.outage import find_outages, outage_share
from bench.analysis.selection import Selection
from bench.gates import data
from bench.gates.overrides import SloOverrides, effective_slo
from bench.numbers import pct, qty
from bench.scenario.slo import Slo
from bench.stats import judged, min_samples, percentile

__all__ = ["SloCheck", "SloVerdict", "evaluate_slos", "format_verdict", "stat_value", "verdict_head"]


@dataclass(frozen=True)
class SloCheck:
    """One SLO and what the run measured against it."""

    metric: str  # ttft_ms ... or "error_rate", "outage_share" or "dropped_share" (fractions 0..1)
    stat: str | None  # p95 ...; None for the error rate and the outage share
    limit: float
    measured: float | None  # None: nothing to measure
    samples: int  # values the statistic was computed from (requests, or ITL gaps)
    passed: bool

    @property
    def name(self) -> str:
        """``ttft_ms.p95`` or ``error_rate``."""
        return self.metric if self.stat is None else f"{self.metric}.{self.stat}"

    @property
    def judged(self) -> bool:
        """Enough values for the statistic (the one "not judged" rule, ``bench.stats.judged``)."""
        return judged(self.stat, self.samples)

    @property
    def excess(self) -> float | None:
        """measured - limit (positive when breached), in the metric's unit."""
        return None if self.measured is None else self.measured - self.limit

    def describe(self) -> str:
        """One line for people: what was measured, the limit, and by how much it was missed or met."""
        if self.measured is None:
            return f"{self.name}: no value measured (no successful request carries {self.metric}); limit {self._fmt(self.limit)}"
        excess = self.measured - self.limit
        rel = f" ({excess / self.limit * 100:+,.1f} %)" if self.limit else ""
        word = "over by" if excess > 0 else "under by"
        # An error-rate margin is a difference of percentages: percentage points, not per cent.
        margin = f"{abs(excess) * 100:.2f} percentage points" if self.stat is None else self._fmt(abs(excess))
        few = ""
        if not self.judged and self.stat is not None:
            need = min_samples(float(self.stat[1:]))
            few = f"; from {self.samples:,} values, fewer than a firm {self.stat} needs ({need:,})"
        return (
            f"{self.name}: measured {self._fmt(self.measured)}, limit {self._fmt(self.limit)}, "
            f"{word} {margin}{rel}{few}"
        )

    def _fmt(self, value: float) -> str:
        if self.stat is None:
            return pct(value)
        return qty(value, "ms/token" if self.metric == "tpot_ms" else "ms")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["name"] = self.name
        out["excess"] = self.excess
        out["judged"] = self.judged
        return out


@dataclass(frozen=True)
class SloVerdict:
    """Every SLO check of one run."""

    checks: tuple[SloCheck, ...]
    requests: int  # counted requests: every request sent while load was offered (cancelled ones left out)
    failed: int
    window: str = "whole run"  # which window the latency SLOs were judged over, in words
    window_requests: int | None = None  # counted requests that ended inside that window
    left_out: dict[str, int] | None = None  # Selection.left_out(): what the window left out
    outages: tuple[str, ...] = ()  # one line per outage ("target unreachable from 12.3 s to the end ...")
    slo: Slo | None = None  # what was judged: the scenario's SLOs with --slo/--no-slo on top

    @property
    def passed(self) -> bool:
        """True when every check passed (also when there was no SLO to check)."""
        return all(c.passed for c in self.checks)

    @property
    def breaches(self) -> tuple[SloCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        counts = ("requests", "failed", "window", "window_requests", "left_out")
        return {
            "passed": self.passed,
            **{name: getattr(self, name) for name in counts},
            "outages": list(self.outages),
            "checks": [c.to_dict() for c in self.checks],
            "slo": (self.slo or Slo()).to_dict(),  # the one serialised SLO form (bench.scenario.slo)
        }


def stat_value(values: np.ndarray, stat: str) -> float | None:
    """``p50``..``p99.9`` (the project percentile), ``mean`` or ``max`` of ``values``; None when empty."""
    if values.size == 0:
        return None
    if stat == "mean":
        return float(np.mean(values))
    if stat == "max":
        return float(np.max(values))
    if stat.startswith("p"):
        return percentile(values, float(stat[1:]))
    raise ValueError(f"unknown statistic {stat!r}")


def evaluate_slos(
    records: data.Records,
    slo: Slo | None,
    overrides: SloOverrides | None = None,
    *,
    window: data.WindowSpec = "steady",
    selection: Selection | None = None,
) -> SloVerdict:
    """Judge a run against ``slo`` with ``overrides`` on top.

    ``records`` is a ``RecordFrame``, a results directory or ``Record`` objects. Latency SLOs judge the
    successful requests that ended in ``window`` (default: the report's steady-state window, from the
    run's schedule when ``records`` is a results directory; ``"whole"``: every request); the error rate
    judges every request sent, and an outage among them is a breach whatever the SLOs. With
    ``selection`` (a capacity step's own ``select``), it decides instead of ``window``: the same checks,
    outages included, over its requests. Cancelled requests never count.
    """
    frame = data.as_frame(records)
    outages: tuple[str, ...] = ()
    left_out: dict[str, int] | None = None
    down: SloCheck | None = None
    sel = selection if selection is not None else data.selection(records, frame, window)
    counted, judged, where = sel.counted, sel.in_window, sel.describe()
    left_out = sel.left_out()
    found = find_outages(frame, sel)
    outages = tuple(o.describe() for o in found)
    if found:  # judged whatever the SLOs: an outage is never a pass (see the module docstring)
        failed_in = sum(o.requests for o in found)
        down = SloCheck("outage_share", None, 0.0, outage_share(frame, sel, found), failed_in, False)
    rules = effective_slo(slo, overrides)
    checks: list[SloCheck] = []
    cache: dict[str, np.ndarray] = {}
    for t in rules.thresholds:
        values = cache.setdefault(t.metric, data.metric_values(frame, t.metric, judged))
        measured = stat_value(values, t.stat)
        checks.append(
            SloCheck(
                t.metric,
                t.stat,
                t.limit,
                measured,
                int(values.size),
                measured is not None and measured <= t.limit,
            )
        )
    requests = int(counted.sum())
    failed = int((counted & ~frame.df["ok"].to_numpy(dtype=bool)).sum())
    if rules.error_rate is not None:
        rate = data.error_rate(frame, counted)
        checks.append(
            SloCheck(
                "error_rate",
                None,
                rules.error_rate,
                rate,
                requests,
                rate is not None and rate <= rules.error_rate,
            )
        )
    if down is not None:
        checks.append(down)
    dropped = sel.schedule.arrivals_dropped if sel.schedule is not None else 0
    if dropped:  # never a pass: the server did not get the load the scenario offered
        checks.append(SloCheck("dropped_share", None, 0.0, dropped / (requests + dropped), dropped, False))
    return SloVerdict(tuple(checks), requests, failed, where, int(judged.sum()), left_out, outages, rules)


def verdict_head(verdict: SloVerdict) -> str:
    """What was judged, so nothing falls out of sight: ``327 requests sent, 261 failed; latency over 60
    requests in the steady-state window 2.0-30.0 s, 5 left out (3 failed)``."""
    head = f"{verdict.requests} requests sent, {verdict.failed} failed"
    if verdict.window_requests is None:
        return f"{head}, in the {verdict.window}"
    left = verdict.left_out or {}
    out = f", {left['requests']} left out ({left.get('failed', 0)} failed)" if left.get("requests") else ""
    return f"{head}; latency over {verdict.window_requests} requests in the {verdict.window}{out}"


def verdict_words(checks: int, breaches: int, soft: int) -> str:
    """``all 4 SLOs met`` or ``2 of 4 SLOs breached``, and how many rest on fewer values than a firm
    percentile needs (``bench.stats.judged``): the gate judges the measured value, since CI
    needs an answer, and every writer of the verdict (terminal, slo.md, report.html) says which answers
    are not firm."""
    words = f"{breaches} of {checks} SLOs breached" if breaches else f"all {checks} SLOs met"
    if soft:
        words += f"; {soft} of {checks} from fewer values than a firm percentile needs"
    return words


def format_verdict(verdict: SloVerdict) -> str:
    """The verdict as one readable block: a headline, each outage, then each breached SLO, then those met."""
    n = len(verdict.checks)
    head = verdict_head(verdict)
    words = verdict_words(n, len(verdict.breaches), sum(1 for c in verdict.checks if not c.judged))
    if n == 0:
        lines = [f"SLO gate: no SLO set ({head}) - PASS"]
    else:
        lines = [f"SLO gate: {'PASS' if verdict.passed else 'FAIL'} - {words} ({head})"]
    lines += [f"  OUTAGE  {line}" for line in verdict.outages]
    lines += [f"  BREACH  {c.describe()}" for c in verdict.breaches]
    lines += [f"  ok      {c.describe()}" for c in verdict.checks if c.passed]
    return "\n".join(lines)
