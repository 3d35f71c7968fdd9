"""The progress line of a headless run: what it shows, plain in a log, redrawn with rich on a terminal."""

from __future__ import annotations

import io

from bench.live.progress import FOLD_EVERY, Progress, Snapshot, format_line
from tests.analysis.factory import T0, make_record


def test_the_line_shows_requests_errors_in_flight_live_ttft_tokens_and_time_left():
    line = format_line(
        Snapshot(
            elapsed_s=10.2,
            planned_s=20.0,
            users=4,
            requests=1405,
            failed=3,
            in_flight=2,
            ttft_p50_ms=32.54,
            ttft_p95_ms=1405.77,
            output_tokens_per_s=174.31,
        )
    )
    assert line == (
        "[   10 s of 20 s] requests 1,405 · errors 3 · in flight 2 · users 4 · "
        "TTFT p50 32.5 / p95 1,405.8 ms · 174.3 output tok/s · 10 s left"
    )
    early = format_line(Snapshot(1.0, None, 0, 0, 0, 0, phase="stage 1/3"))
    assert (
        early
        == "[    1 s] stage 1/3 · requests 0 · errors 0 · in flight 0 · users 0 · TTFT p50 — / p95 — ms · — output tok/s"
    )
    over = format_line(Snapshot(21.0, 20.0, 0, 9, 0, 1))
    assert over.endswith("finishing the answers in flight")


def test_live_figures_come_from_the_records_of_the_last_window():
    progress = Progress(io.StringIO())
    assert progress.live_figures() == (None, None, None)
    now = progress.stats.clock()
    for i in range(50):
        progress.add(make_record(i, at_s=now - T0 - 2.0 + i * 0.01, ttft_ms=100.0 + i, output_tokens=3))
    p50, p95, tokens = progress.live_figures()
    assert p50 is not None and abs(p50 - 124.5) / 124.5 < 0.01  # sketch: 0.5 % relative error
    assert p95 is not None and abs(p95 - 146.5) / 146.5 < 0.01
    assert tokens is not None and tokens > 0


def test_records_are_folded_a_slice_at_a_time_with_a_pause_after_each_slice():
    """Five seconds of records folded at once held the event loop for 25-40 ms at 512 streams."""
    pauses: list[int] = []
    progress = Progress(io.StringIO(), pause=lambda: pauses.append(progress.stats.records))
    now = progress.stats.clock()
    n = 2 * FOLD_EVERY + 5
    for i in range(n):
        progress.add(make_record(i, at_s=now - T0 - 2.0 + i * 0.001, ttft_ms=100.0, output_tokens=3))
    assert pauses == [FOLD_EVERY, 2 * FOLD_EVERY]  # folded as they came, a pause after each slice
    progress.live_figures()
    assert progress.stats.records == n  # the rest is folded when the line is drawn


def test_plain_lines_when_not_a_terminal_and_rich_in_place_on_one():
    log = io.StringIO()
    plain = Progress(log)
    plain.show(Snapshot(5.0, 20.0, 1, 2, 0, 1))
    plain.show(Snapshot(10.0, 20.0, 1, 4, 0, 1))
    assert log.getvalue().count("\n") == 2 and "\x1b[" not in log.getvalue()

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    fancy = Progress(term)
    fancy.show(Snapshot(5.0, 20.0, 1, 2, 0, 1))
    fancy.show(Snapshot(10.0, 20.0, 1, 4, 0, 1))
    fancy.close()
    out = term.getvalue()
    assert "requests 4" in out and "\x1b[" in out  # redrawn in place (cursor moves), not appended
