"""The SLO type: latency thresholds per metric and statistic, and an error-rate limit.

``Slo`` is the one SLO type of chatbench: the scenario's ``slo`` block parses into it, the gate judges
it (``bench.gates``: the scenario's with ``--slo``/``--no-slo`` on top is again an ``Slo``), the report,
compare and capacity read it. It has one serialised form, the scenario file's (``Slo.to_dict`` /
``Slo.from_dict``): ``{"ttft_ms": {"p95": 500.0}, "error_rate": 0.01}``, in ``scenario.json``,
``slo.json`` (``"slo"``: what the gate judged) and ``sweep.json``. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import metrics
from bench.scenario.checks import Where, join

__all__ = ["METRICS", "STATS", "Slo", "SloThreshold", "parse_slo"]

METRICS: tuple[str, ...] = metrics.names(kind="latency", slo=True)  # from the registry (bench/metrics/)
STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p99.9", "mean", "max")


@dataclass(frozen=True)
class SloThreshold:
    """``stat`` of ``metric`` over the run must be at most ``limit`` (same unit as the metric)."""

    metric: str  # one of METRICS
    stat: str  # one of STATS
    limit: float


@dataclass(frozen=True)
class Slo:
    """What a run must meet: every threshold, and at most ``error_rate`` failed / all requests."""

    thresholds: tuple[SloThreshold, ...] = ()
    error_rate: float | None = None  # failed requests / all requests, at most this

    @classmethod
    def from_dict(cls, data: Any) -> Slo:
        """An ``Slo`` from its serialised form (``to_dict``); ``None`` or ``{}`` is no SLO. Values come
        from files chatbench wrote; a scenario file's block is checked by ``parse_slo`` instead."""
        if not isinstance(data, dict):
            return cls()
        thresholds = [
            SloThreshold(str(metric), str(stat), float(limit))
            for metric, stats in data.items()
            if metric != "error_rate" and isinstance(stats, dict)
            for stat, limit in stats.items()
        ]
        rate = data.get("error_rate")
        return cls(tuple(thresholds), None if rate is None else float(rate)).ordered()

    def ordered(self) -> Slo:
        """The same SLO with its thresholds in registry order of metric, then statistic order."""
        order = {m: i for i, m in enumerate(METRICS)}
        stat_order = {s: i for i, s in enumerate(STATS)}
        ranked = sorted(self.thresholds, key=lambda t: (order.get(t.metric, 99), stat_order.get(t.stat, 99)))
        return Slo(tuple(ranked), self.error_rate)

    @property
    def empty(self) -> bool:
        return not self.thresholds and self.error_rate is None

    def to_dict(self) -> dict[str, Any]:
        """The serialised form: ``{metric: {stat: limit}, "error_rate": fraction}`` (keys left out when unset)."""
        data: dict[str, Any] = {}
        for t in self.thresholds:
            data.setdefault(t.metric, {})[t.stat] = t.limit
        if self.error_rate is not None:
            data["error_rate"] = self.error_rate
        return data


def parse_slo(where: Where, raw: Any) -> Slo:
    """The ``slo`` block: ``{metric: {stat: limit}}`` and ``error_rate``."""
    if raw is None:
        return Slo()
    block = where.mapping(raw, "slo")
    where.known_keys(block, "slo", (*METRICS, "error_rate"))
    thresholds = []
    error_rate = None
    for metric, value in block.items():
        mkey = join("slo", metric)
        if metric == "error_rate":
            if value is not None:
                error_rate = where.number(value, mkey, lo=0, hi=1)
            continue
        stats = where.mapping(value, mkey)
        if not stats:
            raise where.error(mkey, f"give at least one statistic: {', '.join(STATS)}")
        where.known_keys(stats, mkey, STATS)
        for stat, limit in stats.items():
            thresholds.append(
                SloThreshold(metric, stat, where.number(limit, join(mkey, stat), lo=0, lo_open=True))
            )
    return Slo(tuple(thresholds), error_rate)
