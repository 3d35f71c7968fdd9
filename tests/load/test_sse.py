"""SSE framing: events split on \n, \r\n tolerated, comments and event: lines, multi-line data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.load.sse import SseParser


def feed_all(lines: list[bytes]) -> list[tuple[bytes, str | None, float]]:
    parser = SseParser()
    out = []
    for t, line in enumerate(lines):
        event = parser.feed(line, float(t))
        if event is not None:
            out.append((event.data, event.event, event.t_s))
    last = parser.end()
    if last is not None:
        out.append((last.data, last.event, last.t_s))
    return out


def test_events_end_at_blank_lines_and_carry_the_time_of_their_first_data_line() -> None:
    lines = [
        b": keep-alive\n",
        b'data: {"a":1}\n',
        b"\n",
        b"event: usage\r\n",
        b"data:x\r\n",
        b"data: y\r\n",
        b"\r\n",
    ]
    assert feed_all(lines) == [(b'{"a":1}', None, 1.0), (b"x\ny", "usage", 4.0)]


def test_an_event_without_its_blank_line_still_counts_at_the_end_of_the_body() -> None:
    assert feed_all([b"data: [DONE]"]) == [(b"[DONE]", None, 0.0)]


def test_id_retry_and_lone_blank_lines_dispatch_nothing() -> None:
    assert feed_all([b"\n", b"id: 3\n", b"retry: 10\n", b"\n"]) == []


@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
        ),
        max_size=8,
    ),
    st.booleans(),
)
def test_any_payloads_round_trip_with_either_line_end(payloads: list[str], crlf: bool) -> None:
    end = b"\r\n" if crlf else b"\n"
    lines = []
    for p in payloads:
        lines += [b"data: " + p.encode() + end, end]
    got = [data for data, _, _ in feed_all(lines)]
    assert got == [p.encode() for p in payloads]
