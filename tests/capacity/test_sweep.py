"""Sweep settings from the scenario and the flags, and what each step asks of the load runner."""

from __future__ import annotations

import pytest

from bench.capacity.plan import StepResult, plan_replicas
from bench.capacity.sweep import _step_overrides, resolve_sweep
from bench.errors import UsageError
from bench.scenario.model import Sweep


def test_flags_win_over_the_scenario_sweep_block() -> None:
    block = Sweep(mode="concurrency", levels=(1, 2, 4), step_duration_s=20, warmup_s=5, stop_error_rate=0.3)
    settings = resolve_sweep(block, levels=[2, 4, 8], step_duration_s=6)
    assert settings.levels == (2.0, 4.0, 8.0) and settings.step_duration_s == 6 and settings.warmup_s == 5
    assert settings.stop_error_rate == 0.3
    assert resolve_sweep(None, levels=[1, 2]).mode == "concurrency"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "no sweep levels"),
        ({"levels": [4, 2]}, "increasing"),
        ({"levels": [0, 2]}, "positive"),
        ({"levels": [1, 1.5]}, "whole numbers"),
        ({"levels": [1, 2], "mode": "burst"}, "choose concurrency"),
        ({"levels": [1, 2], "step_duration_s": 0}, "--step-duration"),
    ],
)
def test_bad_sweeps_are_usage_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        resolve_sweep(None, **kwargs)  # type: ignore[arg-type]


def test_each_step_sets_the_load_of_its_level() -> None:
    closed = resolve_sweep(None, levels=[1, 8], warmup_s=2, step_duration_s=10)
    assert _step_overrides(closed, 8, {"host": "http://127.0.0.1:1"}) == {
        "host": "http://127.0.0.1:1",
        "duration_s": 12.0,
        "users": 8,
        "spawn_rate": 8.0,
    }
    opened = resolve_sweep(None, mode="rate", levels=[2.5, 5], warmup_s=1, step_duration_s=4)
    assert _step_overrides(opened, 2.5, {}) == {"duration_s": 5.0, "rate_rps": 2.5}


def test_rate_sweep_plans_in_requests_per_second() -> None:
    steps = [
        StepResult(
            i, rate, 10, 100, 0, 0.0, min(rate, 20.0), None, None, {"e2e_ms": {"p50": 100.0 * (i + 1)}}
        )
        for i, rate in enumerate([5.0, 10.0, 20.0, 30.0])
    ]
    plan = plan_replicas(
        steps, "rate", capacity_level=15.0, capacity_source="slo", headroom=0.2, target_rps=100
    )
    assert plan.unit == "rps" and plan.usable_per_server == pytest.approx(12.0)
    assert plan.replicas == 9 and plan.load_per_replica == pytest.approx(100 / 9)
    assert plan.expected_latency_ms["e2e_ms"]["p50"] == pytest.approx(
        200 + 100 * (100 / 9 - 10) / 10
    )  # between 10 and 20 req/s
