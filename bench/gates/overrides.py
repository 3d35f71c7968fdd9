"""SLO thresholds from the command line: ``--slo ttft_ms.p95=500 --slo error_rate=0.01`` and ``--no-slo``.

Standard library only, so every subcommand module can add these options without importing pandas.

Rules (also in ``docs/ci.md``):

- ``--slo METRIC.STAT=LIMIT`` sets or replaces the scenario's threshold for that metric and statistic;
  ``--slo error_rate=FRACTION`` sets the error-rate bound. The flag repeats, and one value may hold
  several comma-separated settings (``--slo ttft_ms.p95=500,e2e_ms.p99=4000``).
- ``--no-slo`` drops every SLO of the scenario file; thresholds given with ``--slo`` still apply, so
  ``--no-slo --slo e2e_ms.p99=3000`` checks exactly one SLO.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench import metrics
from bench.errors import UsageError
from bench.scenario.slo import STATS, Slo, SloThreshold

__all__ = [
    "SLO_METRICS",
    "SLO_STATS",
    "EffectiveSlo",
    "Slo",
    "SloOverrides",
    "Threshold",
    "add_slo_arguments",
    "effective_slo",
    "overrides_from_specs",
    "parse_slo_spec",
    "slo_from_dict",
    "slo_overrides_from_args",
]

SLO_METRICS: tuple[str, ...] = metrics.names(kind="latency", slo=True)
"""Latency metrics an SLO may bound (same names as the scenario file's ``slo`` block), from the registry."""
SLO_STATS: tuple[str, ...] = STATS
"""Statistics an SLO may bound."""


Threshold = SloThreshold
"""One threshold of an SLO (``bench.scenario.slo.SloThreshold``; the gate and the scenario share the type)."""
EffectiveSlo = Slo
"""The SLOs a run is judged by: the scenario's with the command line's on top; the one ``Slo`` type."""


@dataclass(frozen=True)
class SloOverrides:
    """SLO settings from the command line, applied on top of the scenario's ``slo`` block."""

    thresholds: tuple[Threshold, ...] = ()
    error_rate: float | None = None
    drop_scenario_slo: bool = False  # --no-slo


def parse_slo_spec(spec: str) -> tuple[tuple[Threshold, ...], float | None]:
    """Parse one ``--slo`` value (``ttft_ms.p95=500``, ``error_rate=0.01``, or several joined by commas)."""
    thresholds: list[Threshold] = []
    error_rate: float | None = None
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or not raw.strip():
            raise UsageError(
                f"--slo {part!r}: expected METRIC.STAT=LIMIT (ttft_ms.p95=500) or error_rate=0.01"
            )
        limit = _number(raw.strip(), part)
        if key == "error_rate":
            if not 0.0 <= limit <= 1.0:
                raise UsageError(f"--slo {part!r}: error_rate is a fraction between 0 and 1 (0.01 = 1%)")
            error_rate = limit
            continue
        metric, dot, stat = key.partition(".")
        if metric not in SLO_METRICS:
            raise UsageError(
                f"--slo {part!r}: unknown metric {metric!r}; choose one of {', '.join(SLO_METRICS)}, error_rate"
            )
        if not dot or stat not in SLO_STATS:
            raise UsageError(
                f"--slo {part!r}: unknown statistic {stat!r}; choose one of {', '.join(SLO_STATS)}"
            )
        if limit <= 0:
            raise UsageError(f"--slo {part!r}: the limit must be a positive number of milliseconds")
        thresholds.append(Threshold(metric, stat, limit))
    return tuple(thresholds), error_rate


def _number(raw: str, part: str) -> float:
    text = raw.removesuffix("%")
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--slo {part!r}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"--slo {part!r}: the limit must be finite")
    return value / 100.0 if raw.endswith("%") else value


def add_slo_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--slo`` (repeatable) and ``--no-slo`` to a subcommand's parser."""
    group = parser.add_argument_group("SLO gate")
    group.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="METRIC.STAT=LIMIT",
        help=(
            "set or replace an SLO of the scenario: ttft_ms.p95=500 (ms), error_rate=0.01 (a fraction, or 1%%); "
            f"metrics {', '.join(SLO_METRICS)}; stats {', '.join(SLO_STATS)}; repeatable"
        ),
    )
    group.add_argument(
        "--no-slo",
        action="store_true",
        help="ignore the scenario file's SLOs (those given with --slo still apply)",
    )


def slo_overrides_from_args(args: argparse.Namespace) -> SloOverrides:
    """The ``SloOverrides`` of parsed arguments (``add_slo_arguments`` must have been called)."""
    return overrides_from_specs(getattr(args, "slo", None) or (), no_slo=bool(getattr(args, "no_slo", False)))


def overrides_from_specs(specs: Iterable[str], *, no_slo: bool = False) -> SloOverrides:
    """``SloOverrides`` from ``--slo`` strings; a later setting of the same metric and stat wins."""
    by_key: dict[tuple[str, str], Threshold] = {}
    error_rate: float | None = None
    for spec in specs:
        thresholds, rate = parse_slo_spec(spec)
        for t in thresholds:
            by_key[(t.metric, t.stat)] = t
        if rate is not None:
            error_rate = rate
    return SloOverrides(tuple(by_key.values()), error_rate, no_slo)


def effective_slo(slo: Slo | None, overrides: SloOverrides | None = None) -> Slo:
    """The scenario's SLOs (unless ``--no-slo``) with the command line's thresholds replacing or adding."""
    overrides = overrides or SloOverrides()
    by_key: dict[tuple[str, str], SloThreshold] = {}
    error_rate: float | None = None
    if slo is not None and not overrides.drop_scenario_slo:
        for t in slo.thresholds:
            by_key[(t.metric, t.stat)] = SloThreshold(t.metric, t.stat, float(t.limit))
        error_rate = slo.error_rate
    for t in overrides.thresholds:
        by_key[(t.metric, t.stat)] = t
    if overrides.error_rate is not None:
        error_rate = overrides.error_rate
    return Slo(tuple(by_key.values()), error_rate).ordered()


def slo_from_dict(data: dict[str, Any] | None) -> Slo:
    """An SLO from its serialised form (``{"ttft_ms": {"p95": 500}, "error_rate": 0.01}``): ``Slo.from_dict``."""
    return Slo.from_dict(data)
