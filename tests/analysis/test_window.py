"""The steady-state window: parsed from --window, or found where requests in flight plateau."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.frames import frame_from_records
from bench.analysis.summary import summarize
from bench.analysis.window import auto_window, in_flight, parse_window
from bench.errors import UsageError
from tests.analysis.factory import make_record


def test_parse_window():
    assert parse_window("10:50") == (10.0, 50.0)
    assert parse_window("10:") == (10.0, None)
    assert parse_window(":7.5") == (None, 7.5)


@pytest.mark.parametrize("text", ["10", "a:b", "50:10", "-1:5"])
def test_bad_window_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--window"):
        parse_window(text)


def test_in_flight_counts_started_not_yet_ended():
    starts = np.array([0.0, 1.0, 2.0])
    ends = np.array([3.0, 1.5, 2.5])
    assert in_flight(starts, ends, np.array([0.5, 1.2, 2.2, 2.8, 3.5])).tolist() == [1, 2, 2, 1, 0]


def _ramped(ramp_s: float, hold_s: float, users: int = 10, e2e_s: float = 0.5):
    """Closed-loop users added one per ramp_s/users seconds, all stopping together after the hold."""
    starts, ends = [], []
    stop = ramp_s + hold_s
    for u in range(users):
        t = ramp_s * u / users
        while t + e2e_s <= stop:
            starts.append(t)
            ends.append(t + e2e_s)
            t += e2e_s
    return np.array(starts), np.array(ends)


def test_auto_window_skips_the_ramp_up():
    starts, ends = _ramped(ramp_s=10.0, hold_s=30.0)
    window = auto_window(starts, ends)
    assert window.source == "auto"
    assert 8.0 <= window.start_s <= 10.0  # in flight reaches 9 of 10 users at 9 s
    assert window.end_s == pytest.approx(40.0, abs=1.0)


def test_short_or_small_runs_use_the_whole_run():
    window = auto_window(np.array([0.0, 0.1]), np.array([0.5, 0.6]))
    assert window.source == "whole_run"
    assert "too short" in window.note


def test_manual_window_counts_requests_that_ended_inside_it():
    records = [make_record(i, at_s=float(i), itl_ms=[], ttft_ms=100.0, e2e_ms=100.0) for i in range(20)]
    analysis = summarize(frame_from_records(records), window=(5.0, 10.0))
    steady = analysis.summary["steady"]
    assert analysis.summary["window"] == {
        "start_s": 5.0,
        "end_s": 10.0,
        "duration_s": 5.0,
        "source": "manual",
        "note": "",
    }
    assert steady["requests"] == 5  # those that ended at 5.1 ... 9.1 s
    assert steady["throughput"]["requests_per_s"] == 1.0
    assert analysis.summary["whole_run"]["requests"] == 20


def test_a_window_after_the_run_has_no_requests_and_says_so():
    records = [make_record(i, at_s=float(i)) for i in range(5)]
    summary = summarize(frame_from_records(records), window=(1000.0, None)).summary
    assert summary["steady"]["requests"] == 0
    assert summary["steady"]["error_rate"] is None
    assert any("starts after the run ended" in note for note in summary["notes"])
