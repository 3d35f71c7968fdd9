"""The live figures against records with known timings, and against the report's exact summary."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench.analysis.summary import analyze
from bench.live.aggregate import LiveSlo, LiveStats, fold_all, kind_label
from bench.live.sketch import RELATIVE_ACCURACY
from tests.analysis.factory import T0, make_error, make_record, write_run


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _stats(clock: Clock, **kw: Any) -> LiveStats:
    kw.setdefault("prompt_sets", ["set-a", "set-b"])
    return LiveStats(started_at_s=T0, clock=clock, **kw)


def test_counts_by_group_and_error_kind_with_throttled_apart_and_cancelled_left_out() -> None:
    clock = Clock(T0 + 5)
    records = [
        make_record(0, at_s=0.1),
        make_record(1, at_s=0.2, prompt_set="set-b", stream=False),
        make_error(2, at_s=0.3, status=429),
        make_error(3, at_s=0.4, status=503, prompt_set="set-b"),
        make_error(4, at_s=0.5, kind="connection_reset", status=200),
        make_error(5, at_s=0.6, kind="cancelled", status=0),
    ]
    stats = fold_all(_stats(clock), records)
    total = stats.view("all", window=False)
    assert (total["requests"], total["failed"], total["cancelled"]) == (5, 3, 1)
    assert total["by_kind"] == {"connection_reset": 1, "http_error 503": 1, "throttled": 1}
    b = stats.view("set:set-b", window=False)
    assert (b["requests"], b["failed"], b["by_kind"]) == (2, 1, {"http_error 503": 1})
    assert stats.view("non-stream", window=False)["requests"] == 1
    assert kind_label(make_error(status=429)) == "throttled"


def test_latencies_follow_the_metric_formulas() -> None:
    clock = Clock(T0 + 5)
    # TTFT 100, gaps 10 and 30 -> E2E 140, 3 tokens -> TPOT (140 - 100) / 2 = 20
    stats = fold_all(_stats(clock), [make_record(0, at_s=1.0, itl_ms=(10.0, 30.0))])
    lat = stats.view("all", window=False)["latency_ms"]
    assert lat["ttft_ms"]["p50"] == pytest.approx(100.0, rel=0.005)
    assert lat["tpot_ms"]["p50"] == pytest.approx(20.0, rel=0.005)
    assert lat["e2e_ms"]["p50"] == pytest.approx(140.0, rel=0.005)
    assert lat["itl_ms"]["n"] == 2 and lat["itl_ms"]["p99"] == pytest.approx(30.0, rel=0.005)
    # a failed request adds no latency; a non-streamed one has an E2E but no TTFT/TPOT
    fold_all(stats, [make_error(1, at_s=1.5), make_record(2, at_s=1.6, stream=False)])
    lat = stats.view("all", window=False)["latency_ms"]
    assert (lat["ttft_ms"]["n"], lat["tpot_ms"]["n"], lat["e2e_ms"]["n"]) == (1, 1, 2)


def test_last_ten_seconds_and_since_start_rates_and_chart_points() -> None:
    clock = Clock(T0 + 30.5)
    # one successful 3-token request ending every 0.5 s over 30 s; the first 10 s each also has an error
    records = [make_record(i, at_s=i * 0.5) for i in range(60)]
    records += [make_error(100 + i, at_s=i + 0.25) for i in range(10)]
    stats = fold_all(_stats(clock), records)
    since = stats.view("all", window=False)
    assert since["requests"] == 70 and since["span_s"] == pytest.approx(30.5)
    assert since["requests_per_s"] == pytest.approx(60 / 30.5)
    assert since["output_tokens_per_s"] == pytest.approx(180 / 30.5)
    recent = stats.view("all", window=True)
    # whole seconds 20..29 plus the current one: ten seconds of two requests each, no error
    assert recent["span_s"] == pytest.approx(10.5)
    assert (recent["requests"], recent["failed"]) == (20, 0)
    series = stats.series_since(0)
    assert series["t_s"][:3] == [1.0, 2.0, 3.0]
    assert series["requests_per_s"][:3] == [2.0, 2.0, 2.0]
    assert series["errors_per_s"][8:12] == [1.0, 1.0, 0.0, 0.0]
    assert series["ttft_p95_ms"][2] == pytest.approx(100.0, rel=0.005)
    assert len(series["t_s"]) == int(clock.t) - 3 - int(T0) + 1  # one a second, drawn up to 3 s ago


def test_goodput_and_slo_verdicts() -> None:
    clock = Clock(T0 + 10)
    slo = LiveSlo((("ttft_ms", "p95", 150.0), ("ttft_ms", "p50", 120.0), ("e2e_ms", "p95", 1000.0)), 0.2)
    fast = [make_record(i, at_s=i * 0.1) for i in range(8)]
    slow = [make_record(10 + i, at_s=2 + i * 0.1, ttft_ms=400.0) for i in range(2)]
    stats = fold_all(_stats(clock, slo=slo), [*fast, *slow, make_error(50, at_s=3.0)])
    view = stats.view("all", window=False)
    # per request the smallest TTFT limit applies (120 ms): the 8 fast ones are good, of 11 requests
    assert stats.limits == {"ttft_ms": 120.0, "e2e_ms": 1000.0}
    assert view["good_share"] == pytest.approx(8 / 11)
    states = {c["name"]: c["state"] for c in view["slo"]}
    assert states == {
        "ttft_ms.p95": "fail",
        "ttft_ms.p50": "pass",
        "e2e_ms.p95": "pass",
        "error_rate": "pass",
    }
    error = next(c for c in view["slo"] if c["name"] == "error_rate")
    assert error["measured"] == pytest.approx(1 / 11)


def test_the_bottleneck_warning_fires_on_sustained_cpu_only() -> None:
    clock = Clock(T0 + 12)
    calm = [make_record(i, at_s=i, lg_cpu_pct=20.0) for i in range(10)]
    stats = fold_all(_stats(clock, cpu_limit_pct=50.0), [*calm, make_record(99, at_s=10.5, lg_cpu_pct=95.0)])
    assert stats.bottleneck()["warning"] is False  # one spike
    busy = [make_record(200 + i, at_s=i + 0.6, lg_cpu_pct=80.0, worker="w1") for i in range(10)]
    fold_all(stats, busy)
    health = stats.bottleneck()
    assert health["warning"] is True and health["worker"] == "w1"


def test_live_percentiles_agree_with_the_final_summary(tmp_path) -> None:
    rng = random.Random(5)
    records = []
    for i in range(3000):
        ttft = rng.lognormvariate(4.0, 0.5)
        gaps = [rng.lognormvariate(2.8, 0.4) for _ in range(rng.randint(2, 40))]
        stream = i % 4 != 0
        records.append(make_record(i, at_s=i * 0.01, ttft_ms=ttft, itl_ms=gaps, stream=stream))
    records += [make_error(10_000 + i, at_s=i * 0.3) for i in range(40)]
    records += [make_error(20_000 + i, at_s=29.0, kind="cancelled", status=0) for i in range(5)]
    stats = fold_all(_stats(Clock(T0 + 40), prompt_sets=["set-a"]), records)
    summary = analyze(write_run(tmp_path / "run", records)).summary.to_json()
    exact = summary["whole_run"]["latency_ms"]
    live = stats.view("all", window=False)
    assert live["requests"] == summary["whole_run"]["requests"]
    assert live["failed"] == summary["whole_run"]["failed"]
    for metric in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
        for p in ("p50", "p95", "p99"):
            want = exact[metric][p]  # summary.json v2: keyed by the metric names
            got = live["latency_ms"][metric][p]
            assert abs(got - want) <= RELATIVE_ACCURACY * want, (metric, p, got, want)


def test_client_lag_counts_every_request_that_carries_it() -> None:
    clock = Clock(T0 + 5)
    records = [make_record(i, at_s=i * 0.1, client_lag_ms=2.0 + i) for i in range(5)]
    # a failed request's lag measures the client too
    records.append(make_error(9, at_s=0.7, client_lag_ms=40.0))
    stats = fold_all(_stats(clock), records)
    lag = stats.view("all", window=False)["latency_ms"]["client_lag_ms"]
    assert lag["n"] == 6 and lag["p99"] == pytest.approx(40.0 - 0.05 * (40.0 - 6.0), rel=0.005)


def test_in_flight_is_counted_per_prompt_set_and_per_stream_or_not() -> None:
    # two load generators' (prompt set, stream, count) triples, as the master last heard them
    now = [("set-a", True, 2), ("set-b", False, 1), ("set-a", False, 1), ("set-a", True, 3)]
    stats = _stats(Clock(T0 + 1), inflight=lambda: now)
    got = stats.in_flight()
    assert got == {"all": 7, "set:set-a": 6, "set:set-b": 1, "stream": 5, "non-stream": 2}
    now = []
    assert stats.in_flight() == dict.fromkeys(stats.groups, 0)
    assert _stats(Clock(T0 + 1)).in_flight() is None  # the run does not say


def test_output_tokens_are_counted_when_they_arrived_as_the_report_counts_them() -> None:
    import numpy as np

    from bench.analysis.frames import frame_from_records
    from bench.analysis.series import tokens_over_time

    # answers of known timings across second edges: TTFT 200 ms then 125 ms gaps, 2 tokens a chunk
    early = [
        make_record(0, at_s=0.0, ttft_ms=200.0, itl_ms=[125.0] * 20, output_tokens=42),  # 0.2 .. 2.7 s
        make_record(1, at_s=0.6, ttft_ms=300.0, itl_ms=[250.0] * 9, output_tokens=30),  # 0.9 .. 3.15 s
        make_record(2, at_s=1.3, stream=False, e2e_ms=900.0, output_tokens=50),  # all at its end, 2.2 s
        make_error(3, at_s=1.5),  # failed: no tokens
    ]
    # ends at 14.2 s, after the chart points of its first seconds were drawn: they are revised
    late = [make_record(4, at_s=2.0, ttft_ms=200.0, itl_ms=[500.0] * 24, output_tokens=50)]
    clock = Clock(T0 + 10.0)
    stats = fold_all(_stats(clock), early)
    assert len(stats.series_since(0)["t_s"]) == 8  # seconds 0-7 drawn
    clock.t = T0 + 20.0
    fold_all(stats, late)
    live = stats.series_since(0)["output_tokens_per_s"]
    records = early + late
    edges, want = tokens_over_time(
        frame_from_records(records, t0_s=T0), np.ones(len(records), dtype=bool), 16.0, width_s=1.0
    )
    assert len(live) == 18 and edges[:3].tolist() == [0.0, 1.0, 2.0]
    assert live[:16] == pytest.approx(want[:16].tolist())
    assert live[0] == pytest.approx(2 * 7 + 3)  # 0.2 .. 0.95 s: 7 chunks of 2 tokens; 0.9 s: one of 3
    assert stats.view("all", window=False)["output_tokens_per_s"] == pytest.approx(172 / 20.0)
    # the last 10 s: seconds 10..19 and the current one, only the late answer's chunks at 10.2 .. 14.2 s
    assert stats.view("all", window=True)["output_tokens_per_s"] == pytest.approx(2 * 9 / 10.0)


def test_record_views_of_a_batch_fold_to_the_same_figures_as_records() -> None:
    from array import array

    from bench.live.views import record_views
    from bench.load.batch import BatchBuilder

    rng = random.Random(9)
    records = []
    for i in range(400):
        gaps = [rng.lognormvariate(2.8, 0.4) for _ in range(rng.randint(0, 30))]
        extra = {"chunk_tokens": array("l", [2] * (len(gaps) + 1))} if i % 3 == 0 else {}
        stream = i % 5 != 0
        records.append(
            make_record(
                i, at_s=i * 0.05, itl_ms=gaps, stream=stream, prompt_set=f"set-{'ab'[i % 2]}", **extra
            )
        )
    records += [make_error(1000 + i, at_s=i * 0.7, status=429 if i % 2 else 503) for i in range(20)]
    builder = BatchBuilder()
    for r in records:
        builder.add(r)
    batch = builder.take()
    views = list(record_views(batch))
    for view, (record, full) in zip(views, zip(records, batch.records(), strict=True), strict=True):
        assert view.ok == record.ok and view.itl_ms == list(full.itl_ms), record.request_id
        assert view.chunk_tokens == (None if full.chunk_tokens is None else list(full.chunk_tokens))
    slo = LiveSlo((("ttft_ms", "p95", 150.0), ("itl_ms", "p99", 30.0)), 0.05)
    a = fold_all(_stats(Clock(T0 + 40), slo=slo), views)
    b = fold_all(_stats(Clock(T0 + 40), slo=slo), batch.records())
    for group in a.groups:
        for window in (True, False):
            assert a.view(group, window=window) == b.view(group, window=window), (group, window)
    assert a.series_since(0) == b.series_since(0)
