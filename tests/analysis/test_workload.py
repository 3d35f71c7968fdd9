"""The workload block of the summary against hand-built records of known values: cache-hit ratio and
TTFT split, token-weighted ITL, schedule lag and the "fell behind" warning, client_cancelled apart."""

from __future__ import annotations

from array import array

import pytest

from bench.analysis.frames import frame_from_records
from bench.analysis.selection import select
from bench.analysis.summary import summarize
from bench.analysis.workload import workload_summary
from bench.metrics.itl_token import token_weighted_itl
from tests.analysis.factory import make_record


def _frame(records):  # type: ignore[no-untyped-def]
    return frame_from_records(records)


def test_cache_hit_ratio_and_ttft_split_and_not_reported():
    records = [
        make_record(0, ttft_ms=300.0, cached_tokens=0, prompt_tokens=1000),
        make_record(1, at_s=0.1, ttft_ms=40.0, cached_tokens=960, prompt_tokens=1000),
        make_record(2, at_s=0.2, ttft_ms=50.0, cached_tokens=960, prompt_tokens=1000),
        make_record(3, at_s=0.3, ttft_ms=60.0, cached_tokens=None, prompt_tokens=1000),  # not reported
    ]
    frame = _frame(records)
    work = workload_summary(frame, select(frame, None, "whole"))["prefix_cache"]
    assert work["reported"] and work["requests"] == 3 and work["not_reported"] == 1 and work["hits"] == 2
    assert work["hit_ratio"] == pytest.approx(2 / 3)
    assert work["cached_token_share"] == pytest.approx(1920 / 3000)
    assert work["ttft_ms"]["cached"]["p50"] == pytest.approx(45.0)
    assert work["ttft_ms"]["uncached"]["count"] == 1 and work["ttft_ms"]["uncached"]["p50"] == 300.0
    silent = _frame([make_record(0), make_record(1, at_s=0.1)])
    assert workload_summary(silent, select(silent, None, "whole"))["prefix_cache"]["reported"] is False


def test_token_weighted_itl_gives_each_token_its_share_of_the_gap():
    # chunks of 1, 4 and 2 tokens; gaps 40 ms (before the 4-token chunk) and 10 ms (before the 2-token one)
    r = make_record(0, itl_ms=(40.0, 10.0), chunk_tokens=array("l", [1, 4, 2]), output_tokens=7)
    frame = _frame([r, make_record(1, at_s=0.1)])  # the second reports no chunk tokens
    values = token_weighted_itl(frame, frame.df["ok"].to_numpy())
    assert sorted(values.tolist()) == [5.0, 5.0, 10.0, 10.0, 10.0, 10.0]
    chunks = workload_summary(frame, select(frame, None, "whole"))["chunks"]
    assert chunks["requests"] == 1 and chunks["tokens_per_chunk_counts"] == {"1": 1, "2": 1, "4": 1}
    assert chunks["itl_ms"]["count"] == 2 and chunks["itl_token_weighted_ms"]["count"] == 6
    assert chunks["itl_token_weighted_ms"]["mean"] == pytest.approx(
        50.0 / 6
    )  # sum of gaps / tokens after the first chunk


def test_schedule_lag_above_50ms_p99_is_a_warning():
    on_time = [make_record(i, at_s=i * 0.1, client_lag_ms=1.0, scheduled_at_s=0.0) for i in range(20)]
    late = [make_record(i, at_s=i * 0.1, client_lag_ms=1.0 + 10 * i, scheduled_at_s=0.0) for i in range(20)]
    ok = summarize(_frame(on_time)).summary.to_json()
    assert ok["workload"]["schedule_lag_ms"]["behind"] is False
    assert not any("fell behind" in w for w in ok["warnings"])
    behind = summarize(_frame(late)).summary.to_json()
    assert behind["workload"]["schedule_lag_ms"]["behind"] is True
    assert any("fell behind the schedule" in w and "p99" in w for w in behind["warnings"])


def test_client_cancelled_is_counted_apart_not_as_a_failure():
    records = [make_record(i, at_s=i * 0.1) for i in range(8)]
    records += [
        make_record(10 + i, at_s=i * 0.1, error_kind="client_cancelled", status=200) for i in range(2)
    ]
    records += [make_record(20, at_s=0.5, error_kind="http_error", status=500)]
    frame = _frame(records)
    sel = select(frame, None, "whole")
    assert sel.client_cancelled == 2 and sel.requests == 9 and sel.failed == 1
    summary = summarize(frame).summary.to_json()
    assert summary["workload"]["client_cancelled"] == 2
    assert any("cancelled on purpose" in n for n in summary["notes"])
    assert summary["whole_run"]["errors"]["by_kind"].get("client_cancelled") is None


def test_unsent_rows_are_counted_from_reports_and_a_silent_worker_is_named_not_guessed() -> None:
    from bench.analysis.workload import unsent_warning

    assert unsent_warning({"schedule": {"rows_unsent": 0}}) is None
    counted = unsent_warning({"schedule": {"rows_unsent": 12}})
    assert counted is not None and counted.startswith("12 trace rows were not sent: the load stopped first")
    silent = unsent_warning({"schedule": {"rows_unsent": 12, "rows_unknown": ["w1"]}})
    assert silent is not None
    assert silent.startswith("12 trace rows were not sent (w1 did not report: their rows left are not known)")
    only = unsent_warning({"schedule": {"rows_unsent": 0, "rows_unknown": ["w0", "w1"]}})
    assert only is not None and only.startswith(
        "trace rows may not all have been sent (w0, w1 did not report"
    )
