"""Server-sent events framing, one line at a time, for timing each event as it arrives.

The client reads the body line by line (split on ``\\n``), takes the monotonic time of each line, and
hands the line to ``SseParser.feed``. The parser follows the SSE rules that matter for chat
completions: ``data:`` lines (with or without one space after the colon) accumulate into one event,
a blank line ends the event, ``:`` lines are comments, ``event:`` names the event, ``id:`` and
``retry:`` are ignored, and ``\\r\\n`` line ends are accepted. An event's time is the time its *first*
``data:`` line was read: that is when its bytes were visible to the client.

Nothing here imports gevent; the parser is pure and property-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SseEvent", "SseParser"]


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its data lines joined with ``\\n``, its type and when it arrived."""

    data: bytes
    event: str | None
    t_s: float  # monotonic time (time.perf_counter) at which its first data line was read


class SseParser:
    """Turns body lines into ``SseEvent``s; feed every line, then call ``end()`` at end of body."""

    __slots__ = ("_data", "_event", "_t_s")

    def __init__(self) -> None:
        self._data: list[bytes] = []
        self._event: str | None = None
        self._t_s = 0.0

    def feed(self, line: bytes, t_s: float) -> SseEvent | None:
        """Take one line (with or without its line end) read at ``t_s``; return an event it completes."""
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            return self._dispatch()
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            if not self._data:
                self._t_s = t_s
            self._data.append(value)
        elif line.startswith(b":"):
            pass  # a comment (keep-alive)
        elif line.startswith(b"event:"):
            self._event = line[6:].strip().decode("utf-8", "replace")
        # id:, retry: and unknown fields are ignored, as the SSE specification says
        return None

    @property
    def idle(self) -> bool:
        """True between events: no data line and no ``event:`` name taken since the last dispatch."""
        return not self._data and self._event is None

    def feed_data(self, value: bytes, t_s: float) -> None:
        """Take the value of a ``data:`` line (prefix and line end already removed) read at ``t_s``."""
        if not self._data:
            self._t_s = t_s
        self._data.append(value)

    def end(self) -> SseEvent | None:
        """The body ended: an event without its closing blank line still counts."""
        return self._dispatch()

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            self._event = None
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = SseEvent(data, self._event, self._t_s)
        self._data = []
        self._event = None
        return event
