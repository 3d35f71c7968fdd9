"""Trace replay on the load side: which rows of a trace this process sends, and when.

A trace prompt set (``bench.scenario.sources.trace``) carries every conversation's send time
(``Conversation.at_s``, seconds after the trace start). With K arrival sources (one per
load-generator process, local or distributed) source k sends rows k, k+K, k+2K, ... : together
they send every row exactly once, and each in its trace order. The trace starts
``REPLAY_LEAD_S`` after the step's start time (the master's wall clock, the same for every
process), so all processes share one time origin however late each one started. A process that
cannot keep up sends late, never fewer: each record's ``client_lag_ms`` shows by how much, and
the load shape keeps the stage open until every process has sent its share (``LoadContext.rows_left``,
``bench.scenario.loadshape.for_schedule``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from bench.scenario.loadshape import REPLAY_LEAD_S
from bench.scenario.plan import Conversation

__all__ = ["Replay"]


class Replay:
    """This source's share of a trace, as (perf_counter send time, conversation) in order."""

    def __init__(
        self, conversations: Sequence[Conversation], *, index: int, sources: int, t0_wall_s: float | None
    ) -> None:
        sources = max(sources, 1)
        wall_offset = time.time() - time.perf_counter()
        start_wall = (t0_wall_s if t0_wall_s is not None else time.time()) + REPLAY_LEAD_S
        self.origin_mono_s = start_wall - wall_offset
        self._rows = list(conversations[index % sources :: sources])
        self._next = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def left(self) -> int:
        """Rows of this share not popped yet."""
        return len(self._rows) - self._next

    def due_s(self) -> float | None:
        """When the next row is due (perf_counter seconds), or None when this share is done."""
        if self._next >= len(self._rows):
            return None
        return self.origin_mono_s + (self._rows[self._next].at_s or 0.0)

    def pop(self) -> tuple[float, Conversation] | None:
        due = self.due_s()
        if due is None:
            return None
        row = self._rows[self._next]
        self._next += 1
        return due, row
