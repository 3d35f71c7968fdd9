"""A dead target is not hammered: the closed-loop backoff after a connect error, and the circuit breaker.

**Backoff.** A closed-loop user whose request could not connect (``connect_error``,
``connect_timeout``) waits before its next request: 0.1 s, then twice as long after each further
connect failure in a row, at most 2 s (``CONNECT_BACKOFF_S``); the first request that connects
resets it. The wait is not think time (``load.think_time_s`` is unchanged) and makes no record; it
only keeps a user with no think time from sending thousands of doomed requests a second. Open-loop
arrivals keep their schedule: their rate is the load asked for.

**Circuit breaker.** Each load-generator process notes since when every request it sent has failed
to connect (``Reachability``, kept on the process's ``LoadContext``, ``environment.chatbench.reachability``;
a request that connects clears it). The load shape on the master (or
the local runner) stops the run early, and drains as usual, once every process has been in that
state for ``target.stop_when_unreachable_s`` (default 30 s; null: never). What was recorded is kept.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CONNECT_BACKOFF_S",
    "CONNECT_KINDS",
    "Backoff",
    "Reachability",
    "unreachable_since",
]

CONNECT_KINDS = frozenset(("connect_error", "connect_timeout"))
CONNECT_BACKOFF_S = (0.1, 2.0)  # first wait and longest wait after connect errors in a row, s


class Backoff:
    """One closed-loop user's wait after connect errors: doubles per failure in a row, bounded."""

    def __init__(
        self, first_s: float = CONNECT_BACKOFF_S[0], longest_s: float = CONNECT_BACKOFF_S[1]
    ) -> None:
        self.first_s = first_s
        self.longest_s = longest_s
        self._next_s = first_s

    def after(self, error_kind: str | None) -> float:
        """How long to wait after a request that ended with ``error_kind`` (0: go on at once)."""
        if error_kind not in CONNECT_KINDS:
            self._next_s = self.first_s
            return 0.0
        wait = self._next_s
        self._next_s = min(wait * 2.0, self.longest_s)
        return wait


class Reachability:
    """This process's view of the target: since when (wall clock) every request failed to connect."""

    def __init__(self) -> None:
        self.since_s: float | None = None

    def saw(self, error_kind: str | None, started_at_s: float) -> None:
        if error_kind in CONNECT_KINDS:
            if self.since_s is None:
                self.since_s = started_at_s
        else:
            self.since_s = None

    def reset(self) -> None:
        self.since_s = None


def unreachable_since(processes: Iterable[float | None]) -> float | None:
    """When the target became unreachable for every process (the latest of their times), or None
    when some process still reaches it (or none has said)."""
    times = list(processes)
    if not times or any(t is None for t in times):
        return None
    return max(t for t in times if t is not None)
