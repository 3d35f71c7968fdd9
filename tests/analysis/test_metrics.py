"""Each metric on small hand-built runs whose answers are known."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bench.analysis import metrics
from bench.analysis.frames import frame_from_records
from bench.analysis.summary import summarize
from bench.stats import percentile
from tests.analysis.factory import make_error, make_record


def _all(frame):
    return np.ones(len(frame), dtype=bool)


def test_tpot_excludes_the_first_token_and_divides_by_tokens_minus_one():
    # TTFT 100, E2E 1100, 11 tokens: 1000 ms for the 10 tokens after the first.
    frame = frame_from_records(
        [make_record(ttft_ms=100.0, itl_ms=[100.0] * 10, e2e_ms=1100.0, output_tokens=11)]
    )
    assert frame.df["tpot_ms"].iloc[0] == 100.0
    assert metrics.latency_values(frame, _all(frame))["tpot_ms"].tolist() == [100.0]


@pytest.mark.parametrize(
    ("tokens", "stream", "error"),
    [(1, True, None), (0, True, None), (None, True, None), (5, False, None), (5, True, "connection_reset")],
)
def test_tpot_is_undefined_without_two_tokens_a_stream_and_success(tokens, stream, error):
    record = replace(make_record(stream=stream, error_kind=error, e2e_ms=500.0), output_tokens=tokens)
    frame = frame_from_records([record])
    assert math.isnan(frame.df["tpot_ms"].iloc[0])
    assert metrics.latency_values(frame, _all(frame))["tpot_ms"].size == 0


def test_itl_pools_every_chunk_gap_of_successful_streams_only():
    frame = frame_from_records(
        [
            make_record(0, itl_ms=[10.0, 20.0]),
            make_record(1, itl_ms=[30.0]),
            make_record(2, itl_ms=[99.0], error_kind="stream_incomplete"),  # failed: its gaps do not count
            make_record(3, stream=False),
        ]
    )
    gaps = metrics.latency_values(frame, _all(frame))["itl_ms"]
    assert sorted(gaps.tolist()) == [10.0, 20.0, 30.0]
    assert frame.df["itl_max_ms"].tolist()[:3] == [20.0, 30.0, 99.0]
    assert math.isnan(frame.df["itl_max_ms"].iloc[3])


def test_latency_percentiles_are_exact_linear_interpolation_of_successes():
    ttfts = [100.0, 200.0, 300.0, 400.0, 1000.0]
    records = [make_record(i, at_s=i, ttft_ms=t) for i, t in enumerate(ttfts)]
    records.append(make_error(9, at_s=2.5))  # no TTFT; must not shift the percentiles
    frame = frame_from_records(records)
    table = metrics.latency_table(frame, _all(frame))
    assert table["ttft_ms"]["count"] == 5
    assert table["ttft_ms"]["p50"] == 300.0
    assert table["ttft_ms"]["p90"] == pytest.approx(760.0)  # 400 + 0.6 * (1000 - 400)
    assert table["ttft_ms"]["p99"] == percentile(ttfts, 99)
    assert table["ttft_ms"]["max"] == 1000.0
    assert table["ttft_ms"]["mean"] == 400.0
    assert "client_lag_ms" not in table  # closed loop: not measured


def test_non_streamed_requests_have_e2e_but_no_ttft():
    frame = frame_from_records([make_record(0, stream=False, e2e_ms=250.0)])
    values = metrics.latency_values(frame, _all(frame))
    assert values["e2e_ms"].tolist() == [250.0]
    assert values["ttft_ms"].size == 0


def test_client_lag_counts_every_request_that_carries_it():
    frame = frame_from_records(
        [
            make_record(0, client_lag_ms=1.0),
            make_error(1, client_lag_ms=3.0),
            make_record(2, client_lag_ms=None),
        ]
    )
    assert sorted(metrics.latency_values(frame, _all(frame))["client_lag_ms"].tolist()) == [1.0, 3.0]


def test_throughput_counts_successful_requests_and_their_tokens():
    records = [make_record(i, at_s=i * 0.5, output_tokens=10, prompt_tokens=5) for i in range(4)]
    records.append(make_error(9, at_s=1.0))
    frame = frame_from_records(records)
    tp = metrics.throughput(frame, _all(frame), duration_s=2.0)
    assert tp == {
        "requests_per_s": 2.0,
        "attempts_per_s": 2.5,
        "output_tokens_per_s": 20.0,
        "total_tokens_per_s": 30.0,
    }
    assert set(metrics.throughput(frame, _all(frame), 0.0).values()) == {None}


def test_errors_by_kind_and_status():
    frame = frame_from_records(
        [
            make_record(0),
            make_error(1, status=503),
            make_error(2, status=503),
            make_error(3, status=429),
            make_error(4, kind="connect_error", status=0, error_message="refused"),
        ]
    )
    errors = metrics.error_summary(frame, _all(frame))
    assert errors["by_kind"] == {"http_error": 3, "connect_error": 1}
    assert errors["by_status"] == {"0": 1, "429": 1, "503": 2}
    assert errors["top_messages"][0] == {
        "error_kind": "http_error",
        "status": 503,
        "message": "HTTP 503",
        "count": 2,
    }


def test_slo_limits_take_the_smallest_limit_and_skip_run_level_keys():
    limits, ignored = metrics.slo_limits(
        {"ttft_ms": {"p95": 500, "p50": 200}, "e2e_ms": 3000, "error_rate": 0.01, "gpu_watts": {"max": 1}}
    )
    assert limits == {"ttft_ms": 200.0, "e2e_ms": 3000.0}
    assert ignored == ["gpu_watts"]


def test_goodput_applies_each_limit_to_each_request():
    records = [
        make_record(0, ttft_ms=100.0, itl_ms=[10.0, 10.0]),  # good
        make_record(1, ttft_ms=600.0, itl_ms=[10.0, 10.0]),  # TTFT over 500
        make_record(
            2, ttft_ms=100.0, itl_ms=[10.0, 80.0]
        ),  # one gap over 50 (itl_ms is the request's max gap)
        make_record(3, stream=False, e2e_ms=300.0),  # no TTFT, no gaps: judged on E2E only -> good
        make_error(4),  # failed: never good
    ]
    frame = frame_from_records(records)
    slo = {"ttft_ms": {"p95": 500}, "itl_ms": {"p99": 50}, "e2e_ms": {"max": 1000}, "error_rate": 0.5}
    gp = metrics.goodput(frame, _all(frame), slo, duration_s=2.0)
    assert metrics.good_mask(frame, metrics.slo_limits(slo)[0]).tolist() == [True, False, False, True, False]
    assert gp["good"] == 2
    assert gp["good_share"] == 2 / 5
    assert gp["goodput_rps"] == 1.0


def test_goodput_is_undefined_without_per_request_thresholds():
    frame = frame_from_records([make_record(0)])
    gp = metrics.goodput(frame, _all(frame), {"error_rate": 0.01}, duration_s=1.0)
    assert gp["good"] is None and gp["goodput_rps"] is None


def test_breakdowns_show_only_what_varied():
    records = [
        make_record(i, at_s=i, temperature=0.2 if i % 2 else 1.0, ttft_ms=100.0 * (1 + i % 2))
        for i in range(10)
    ]
    frame = frame_from_records(records)
    groups = metrics.breakdowns(frame, _all(frame))
    assert list(groups) == ["temperature"]  # prompt_set, stream, top_p... took one value
    by_value = {row["value"]: row for row in groups["temperature"]}
    assert by_value["0.2"]["requests"] == 5 and by_value["0.2"]["ttft_p50_ms"] == 200.0
    assert by_value["1"]["ttft_p50_ms"] == 100.0


def test_breakdown_bins_a_continuous_parameter_and_names_unsent_values():
    records = [make_record(i, top_p=0.5 + i * 0.05) for i in range(11)] + [make_record(20, top_p=None)]
    frame = frame_from_records(records)
    rows = metrics.breakdowns(frame, _all(frame))["top_p"]
    assert [r["value"] for r in rows] == [
        "0.5 to 0.6",
        "0.6 to 0.7",
        "0.7 to 0.8",
        "0.8 to 0.9",
        "0.9 to 1",
        "not sent",
    ]
    assert sum(r["requests"] for r in rows) == 12
    assert rows[-1]["requests"] == 1


def test_per_second_series_buckets_by_completion():
    records = [make_record(i, at_s=0.1 * i, ttft_ms=100.0, itl_ms=[], e2e_ms=100.0) for i in range(10)]
    records += [make_error(20, at_s=1.5)]
    frame = frame_from_records(records)
    series = metrics.per_second(frame, run_end_s=2.0)
    assert series["requests"].tolist() == [9, 2]  # the 10th ends at 1.0 s
    assert series["failed"].tolist() == [0, 1]
    assert series["error_rate"].tolist() == [0.0, 0.5]
    assert series["ttft_p50_ms"].tolist() == [100.0, 100.0]


def test_summary_of_only_errors_has_no_numbers_for_latency_and_says_why():
    frame = frame_from_records([make_error(i, at_s=i * 0.1) for i in range(5)])
    summary = summarize(frame).summary.to_json()
    assert summary["steady"]["failed"] == 5
    assert summary["steady"]["error_rate"] == 1.0
    assert summary["steady"]["latency_ms"]["ttft_ms"]["p50"] is None
    assert summary["steady"]["throughput"]["output_tokens_per_s"] == 0.0
    assert any("no request succeeded" in note for note in summary["notes"])


def test_summary_of_no_records():
    summary = summarize(frame_from_records([])).summary.to_json()
    assert summary["steady"]["requests"] == 0
    assert summary["steady"]["error_rate"] is None
    assert summary["steady"]["throughput"]["requests_per_s"] is None
    assert any("no records" in note for note in summary["notes"])


def test_summary_of_one_request():
    summary = summarize(frame_from_records([make_record(0)])).summary.to_json()
    assert summary["steady"]["latency_ms"]["ttft_ms"]["p99"] == 100.0
    assert summary["steady"]["latency_ms"]["tpot_ms"]["p50"] == 10.0
    assert any("only one request" in note for note in summary["notes"])


def test_summary_of_one_token_answers_has_no_tpot():
    frame = frame_from_records([make_record(i, itl_ms=[], output_tokens=1) for i in range(3)])
    latency = summarize(frame).summary.to_json()["steady"]["latency_ms"]
    assert latency["tpot_ms"]["count"] == 0 and latency["tpot_ms"]["p50"] is None
    assert latency["itl_ms"]["count"] == 0
    assert latency["ttft_ms"]["count"] == 3


def test_requests_cut_off_by_the_end_of_the_run_count_in_no_figure():
    """A run cut 3 answers short: they stay in the records but are no server failures."""
    records = [make_record(i, at_s=i * 0.1) for i in range(7)]
    records += [make_error(7 + i, at_s=0.7, kind="cancelled", status=200) for i in range(3)]
    summary = summarize(frame_from_records(records)).summary.to_json()
    for section in ("steady", "whole_run"):
        assert summary[section]["requests"] == 7
        assert summary[section]["failed"] == 0 and summary[section]["error_rate"] == 0.0
    assert any("3 request(s) were still in flight when the run ended" in note for note in summary["notes"])
