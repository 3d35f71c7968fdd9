"""The record sink: one ``Record`` per request, appended to ``records/<worker>.jsonl`` of the run.

Records are buffered in memory and written by a background greenlet at least every
``flush_interval_s`` (and on ``close``), so a killed load generator loses at most the last second.
Each load-generator process writes its own file ("local" in a local run, "w<index>" for a distributed
worker): no record has to travel to the master, whose final message window is only 0.5 s.
"""

from __future__ import annotations

from pathlib import Path

import gevent

from bench.records import Record

__all__ = ["RecordSink"]


class RecordSink:
    """Appends records to one JSONL file; ``write`` is cheap (no I/O on the request path)."""

    def __init__(self, path: str | Path, *, flush_interval_s: float = 0.5) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        self._buffer: list[bytes] = []
        self._interval_s = flush_interval_s
        self.written = 0  # records handed to write()
        self._closed = False
        self._greenlet = gevent.spawn(self._flush_loop)

    def write(self, record: Record) -> None:
        if self._closed:
            # A straggler after close (a request greenlet killed late): still keep it.
            with self.path.open("ab") as f:
                f.write(record.to_json() + b"\n")
        else:
            self._buffer.append(record.to_json())
        self.written += 1

    def flush(self) -> None:
        if not self._buffer or self._closed:
            return
        lines, self._buffer = self._buffer, []
        self._file.write(b"\n".join(lines) + b"\n")
        self._file.flush()

    def close(self) -> None:
        """Flush what is buffered and close the file (idempotent)."""
        if self._closed:
            return
        self._greenlet.kill(block=False)
        self.flush()
        self._closed = True
        self._file.close()

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(self._interval_s)
            self.flush()
