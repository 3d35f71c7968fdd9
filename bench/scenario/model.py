"""The resolved scenario: frozen dataclasses built from a YAML file, each block parsed beside its type.

Everything here is already validated and has its defaults filled in; the load side, the gates and
the report read these, never the raw YAML. ``Scenario.to_dict()`` is what ``scenario.json`` holds:
plain JSON-able data without secrets (the API key's value is never stored, only its env var name).

Where each block lives (its dataclass, its defaults and its parser together):

    target      bench.scenario.target      Target, Timeouts (API profiles: bench.profiles)
    prompt_sets bench.scenario.promptset   PromptSet; its source: bench.scenario.sources, one
                                           registered module per source (inline, jsonl, ...)
    sampling    bench.scenario.sampling    SamplingSpec
    load        bench.scenario.loadshape   Load, Stage, Arrival
    slo         bench.scenario.slo         Slo, SloThreshold
    sweep       bench.scenario.sweep       Sweep, Planning
    mock        bench.mock.settings        MockSettings (field metadata)
    server_metrics bench.servermetrics.spec ServerMetricsSpec (scraping the server's /metrics)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.profiles import get_profile
from bench.scenario.loadshape import Arrival, Load, Stage
from bench.scenario.promptset import PromptSet
from bench.scenario.sampling import SamplingSpec
from bench.scenario.slo import METRICS, STATS, Slo, SloThreshold
from bench.scenario.sources.synthetic import SyntheticSpec
from bench.scenario.sweep import Planning, Sweep
from bench.scenario.target import Target, Timeouts
from bench.servermetrics.spec import ServerMetricsSpec

__all__ = [
    "METRICS",
    "SEED_BODY_KEYS",
    "STATS",
    "Arrival",
    "Load",
    "Planning",
    "PromptSet",
    "Scenario",
    "Slo",
    "SloThreshold",
    "Stage",
    "Sweep",
    "SyntheticSpec",
    "Target",
    "Timeouts",
]

SEED_BODY_KEYS: tuple[str, ...] = tuple(sorted(get_profile("seed").body_keys))
"""The seven keys the seed server documents; in the ``seed`` profile a body holds exactly these."""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path | None
    description: str
    seed: int
    target: Target
    mock: Mapping[str, Any]
    prompt_sets: tuple[PromptSet, ...]
    sampling: SamplingSpec
    load: Load
    slo: Slo
    sweep: Sweep | None = None
    planning: Planning | None = None
    server_metrics: ServerMetricsSpec = field(default_factory=ServerMetricsSpec)

    def prompt_set(self, name: str) -> PromptSet | None:
        return next((s for s in self.prompt_sets if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain JSON-able data, without secrets."""
        return {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "description": self.description,
            "seed": self.seed,
            "target": self.target.to_dict(),
            "mock": dict(self.mock),
            "prompt_sets": [s.to_dict() for s in self.prompt_sets],
            "sampling": self.sampling.to_data(),
            "load": self.load.to_dict(),
            "slo": self.slo.to_dict(),
            "sweep": None if self.sweep is None else self.sweep.to_dict(),
            "planning": None if self.planning is None else self.planning.to_dict(),
            "server_metrics": self.server_metrics.to_dict(),
        }
