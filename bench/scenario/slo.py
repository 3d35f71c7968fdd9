"""The ``slo`` block: latency thresholds per metric and statistic, and an error-rate limit."""

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
    thresholds: tuple[SloThreshold, ...] = ()
    error_rate: float | None = None  # failed requests / all requests, at most this

    @property
    def empty(self) -> bool:
        return not self.thresholds and self.error_rate is None

    def to_dict(self) -> dict[str, Any]:
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
