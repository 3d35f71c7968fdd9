"""Capacity maths on hand-built step tables: knee, highest load within SLOs, early stop, replicas."""

from __future__ import annotations

import math

import pytest

from bench.analysis.frames import frame_from_records
from bench.capacity.plan import (
    StepResult,
    conservative_capacity,
    find_knee,
    max_load_within_slo,
    plan_replicas,
    step_from_records,
    stop_reason,
)
from bench.errors import UsageError
from bench.gates.overrides import slo_from_dict
from bench.gates.slo import SloCheck
from tests.gates.synth import record


def step(
    i: int,
    level: float,
    rps: float,
    e2e_p50: float,
    *,
    ttft_p95: float | None = None,
    limit: float = 500.0,
    error_rate: float = 0.0,
) -> StepResult:
    checks = ()
    if ttft_p95 is not None:
        checks = (SloCheck("ttft_ms", "p95", limit, ttft_p95, 100, ttft_p95 <= limit),)
    lat = {
        "e2e_ms": {"p50": e2e_p50, "mean": e2e_p50 * 1.1, "p95": e2e_p50 * 1.5, "p99": e2e_p50 * 2},
        "ttft_ms": {"p50": (ttft_p95 or 50) / 2, "p95": ttft_p95, "p99": ttft_p95},
    }
    return StepResult(i, level, 10.0, 100, int(100 * error_rate), error_rate, rps, rps * 60, rps, lat, checks)


def saturating(levels: list[float], slots: int, service_ms: float = 1000.0) -> list[StepResult]:
    """A server with ``slots`` parallel slots: throughput min(L, slots)/service; latency grows past it."""
    out = []
    for i, level in enumerate(levels):
        rps = min(level, slots) / (service_ms / 1000)
        e2e = service_ms * max(1.0, level / slots)
        out.append(step(i, level, rps, e2e, ttft_p95=40 + 100 * max(0.0, level - slots)))
    return out


@pytest.mark.parametrize("slots", [2, 4, 6, 8])
def test_knee_is_the_configured_capacity(slots: int) -> None:
    knee = find_knee(saturating([1, 2, 4, 6, 8, 12], slots))
    assert knee.level == slots


def test_no_knee_while_throughput_still_rises() -> None:
    knee = find_knee(saturating([1, 2, 4], 8))
    assert knee.level is None and "still rising" in knee.reason


def test_knee_tolerates_a_gently_slowing_server() -> None:
    # Throughput rises by 70 % of the initial slope per unit: still scaling, no knee.
    steps = [
        step(i, lvl, 10 * (1 + 0.7 * (lvl - 1)), 100 * (1 + 0.05 * i)) for i, lvl in enumerate([1, 2, 4, 8])
    ]
    assert find_knee(steps).level is None


def test_highest_load_within_slo_interpolates_and_names_the_binding_slo() -> None:
    # TTFT p95: 40, 40, 40, 240, 440 ms; limit 200 ms is crossed between 4 and 6 users.
    steps = [
        step(s.index, s.level, s.throughput_rps or 0, 100, ttft_p95=s.latency("ttft_ms", "p95"), limit=200.0)
        for s in saturating([1, 2, 4, 6, 8], 4)
    ]
    limit = max_load_within_slo(steps)
    assert limit is not None and limit.exact
    assert limit.binding == "ttft_ms.p95"
    assert limit.level == pytest.approx(4 + (200 - 40) / (240 - 40) * 2)  # 5.6 users
    assert limit.last_pass_index == 2 and limit.first_fail_index == 3


def test_the_slo_that_binds_first_wins() -> None:
    def two(i: int, level: float, ttft: float, err: float) -> StepResult:
        checks = (
            SloCheck("ttft_ms", "p95", 100.0, ttft, 100, ttft <= 100.0),
            SloCheck("error_rate", None, 0.01, err, 100, err <= 0.01),
        )
        return StepResult(i, level, 10, 100, 0, err, level, level, level, {}, checks)

    # Both breach at 8; TTFT reaches 100 at 4 + 2/3 * 4 = 6.67, the error rate reaches 1 % at 4 + 0.5 * 4 = 6.
    limit = max_load_within_slo([two(0, 2, 40, 0.0), two(1, 4, 40, 0.0), two(2, 8, 130, 0.02)])
    assert limit is not None and limit.binding == "error_rate" and limit.level == pytest.approx(6.0)


def test_highest_load_edge_cases() -> None:
    assert max_load_within_slo([step(0, 1, 1, 100)]) is None  # no SLO
    every = max_load_within_slo(saturating([1, 2], 4))
    assert every is not None and every.level == 2 and not every.exact and "at least" in every.note
    none = max_load_within_slo([step(0, 1, 1, 100, ttft_p95=900), step(1, 2, 2, 100, ttft_p95=950)])
    assert none is not None and none.level is None and "sweep lower" in none.note


def test_early_stop_rules() -> None:
    assert stop_reason(saturating([1, 2, 4], 4), stop_error_rate=0.5, stop_latency_factor=10) is None
    # Two flat, slower steps past the knee.
    why = stop_reason(saturating([1, 2, 4, 6, 8], 4), stop_error_rate=0.5, stop_latency_factor=10)
    assert why is not None and "two steps" in why
    assert stop_reason(saturating([1, 2, 4, 6], 4), stop_error_rate=0.5, stop_latency_factor=10) is None
    errors = [step(0, 1, 1, 100), step(1, 2, 1, 100, error_rate=0.6)]
    assert "error rate 60.0%" in (stop_reason(errors, stop_error_rate=0.5, stop_latency_factor=10) or "")
    slow = [step(0, 1, 1, 100), step(1, 2, 2, 1100)]
    assert "over 10x" in (stop_reason(slow, stop_error_rate=0.5, stop_latency_factor=10) or "")


def test_replicas_for_target_users_with_headroom() -> None:
    steps = saturating([1, 2, 4, 6, 8], 4)
    plan = plan_replicas(
        steps, "concurrency", capacity_level=5.0, capacity_source="slo", headroom=0.2, target_users=100
    )
    # 5 users per server, 4 usable at 20 % headroom: 100 / 4 = 25 replicas, 4 users each.
    assert plan.usable_per_server == pytest.approx(4.0)
    assert plan.replicas == 25 and plan.load_per_replica == pytest.approx(4.0)
    assert plan.expected_latency_ms["e2e_ms"]["p50"] == pytest.approx(1000.0)  # measured at 4 users
    plan = plan_replicas(
        steps, "concurrency", capacity_level=5.0, capacity_source="slo", headroom=0.2, target_users=101
    )
    assert plan.replicas == 26 == math.ceil(101 / 4)
    assert "scale linearly" in plan.assumption


def test_replicas_for_target_rps_on_a_concurrency_sweep_use_measured_throughput() -> None:
    steps = saturating([1, 2, 4, 6], 4)  # 1 req/s per user up to 4 users
    plan = plan_replicas(
        steps, "concurrency", capacity_level=4.0, capacity_source="slo", headroom=0.5, target_rps=10
    )
    assert plan.unit == "rps" and plan.capacity_per_server == pytest.approx(4.0)
    assert plan.replicas == 5 and plan.load_per_replica == pytest.approx(2.0)
    assert plan.level_per_replica == pytest.approx(2.0)  # 2 req/s needs 2 users


def test_planning_refuses_bad_input() -> None:
    steps = saturating([1, 2], 4)
    with pytest.raises(UsageError, match="headroom"):
        plan_replicas(
            steps, "concurrency", capacity_level=2, capacity_source="slo", headroom=1.0, target_users=10
        )
    with pytest.raises(UsageError, match="exactly one"):
        plan_replicas(steps, "concurrency", capacity_level=2, capacity_source="slo", headroom=0.2)
    with pytest.raises(UsageError, match="concurrency sweep"):
        plan_replicas(steps, "rate", capacity_level=2, capacity_source="slo", headroom=0.2, target_users=10)


def test_step_from_records_excludes_warmup_and_counts_goodput() -> None:
    # 40 requests, one every 0.25 s; the first 2 s are warm-up. TTFT 300 ms in warm-up, 50 ms after.
    recs = [
        record(
            i, ttft_ms=300.0 if i * 0.25 < 2 else 50.0, tpot_ms=10, output_tokens=11, started_at_s=i * 0.25
        )
        for i in range(40)
    ]
    recs[30] = record(30, error_kind="http_error", started_at_s=30 * 0.25)
    frame = frame_from_records(recs)
    result = step_from_records(
        frame,
        index=0,
        level=2,
        slo=slo_from_dict({"ttft_ms": {"p50": 100}}),  # 30 values judge a p50 (a p95 needs 100)
        warmup_s=2.0,
        step_duration_s=8.0,
    )
    assert result.latency("ttft_ms", "max") == 50.0  # no warm-up request counted
    assert result.meets_slo
    # The error rate is over every request the step sent, warm-up included (as a run's gate counts it).
    assert result.requests == 40 and result.failed == 1 and result.error_rate == pytest.approx(1 / 40)
    lo, hi = result.window_s  # in the frame's seconds
    ended_inside = int(((frame.df["end_s"] >= lo) & (frame.df["end_s"] < hi)).sum())
    assert 0 < ended_inside < 40
    assert result.throughput_rps == pytest.approx((ended_inside - 1) / result.duration_s)
    # The one warm-up request that ended inside the window (TTFT 300 ms) counts as an answer, not as good.
    assert result.goodput_rps == pytest.approx((ended_inside - 2) / result.duration_s)


def test_a_step_whose_server_went_down_is_a_breach_whatever_its_slos() -> None:
    """The server answers the warm-up, then refuses every request: few failures end inside the window
    (backoff), so a window-only count would read a small error rate; the step sent them all."""
    recs = [record(i, ttft_ms=50.0, tpot_ms=10, output_tokens=11, started_at_s=i * 0.25) for i in range(12)]
    recs += [record(i, error_kind="connect_error", started_at_s=i * 0.25) for i in range(12, 40)]
    result = step_from_records(
        frame_from_records(recs),
        index=0,
        level=2,
        slo=slo_from_dict({"ttft_ms": {"p50": 100}}),  # 30 values judge a p50 (a p95 needs 100)
        warmup_s=2.0,
        step_duration_s=8.0,
    )
    assert result.failed == 28 and result.error_rate == pytest.approx(28 / 40)
    assert not result.meets_slo and result.breaches
    assert any(c.metric == "outage_share" and not c.passed for c in result.checks)


def test_a_step_with_too_few_requests_for_its_percentile_is_not_judged() -> None:
    def judged_step(i: int, level: float, ttft_p95: float, samples: int) -> StepResult:
        checks = (SloCheck("ttft_ms", "p95", 200.0, ttft_p95, samples, ttft_p95 <= 200.0),)
        return StepResult(i, level, 10, samples, 0, 0.0, level, level, level, {}, checks)

    # 7 requests for a p95 (it needs 100): neither met nor breached, whatever it measured.
    few_pass, few_fail = judged_step(0, 1, 50.0, 7), judged_step(0, 1, 900.0, 7)
    assert few_pass.status == few_fail.status == "not judged"
    assert not few_pass.meets_slo and not few_fail.breaches
    steps = [
        few_fail,
        judged_step(1, 2, 50.0, 100),
        judged_step(2, 4, 60.0, 200),
        judged_step(3, 8, 400.0, 400),
    ]
    limit = max_load_within_slo(steps)
    assert limit is not None and limit.last_pass_index == 2 and limit.first_fail_index == 3
    only_few = max_load_within_slo([few_pass, judged_step(1, 2, 50.0, 99)])
    assert only_few is not None and only_few.level is None and "enough requests" in only_few.note


def test_the_headline_capacity_is_a_measured_step_at_or_below_the_knee() -> None:
    # TTFT p95 crosses 300 ms between 6 (240 ms) and 8 users (440 ms); the knee is at 4 slots.
    steps = [
        step(
            s.index,
            s.level,
            s.throughput_rps or 0,
            s.latency("e2e_ms", "p50") or 0,
            ttft_p95=s.latency("ttft_ms", "p95"),
            limit=300.0,
        )
        for s in saturating([1, 2, 4, 6, 8], 4)
    ]
    knee = find_knee(steps)
    limit = max_load_within_slo(steps)
    assert knee.level == 4 and limit is not None and 6 < (limit.level or 0) < 8
    cap = conservative_capacity(steps, limit, knee)
    assert cap.level == 4 and "past the saturation knee" in cap.reason  # 6 met the SLO, but queues
    below = conservative_capacity(steps[:3], max_load_within_slo(steps[:3]), find_knee(steps[:3]))
    assert below.level == 4 and below.basis == "slo"
    no_slo = conservative_capacity(saturating([1, 2, 4, 6, 8], 4), None, knee)
    assert no_slo.level == 4 and no_slo.basis == "knee"
