"""A batch's records as the live view reads them: each row of a ``RecordBatch`` with ``Record``'s fields.

``RecordBatch.records()`` makes full ``Record`` objects: a dict per row, a dataclass built from 40
keyword arguments, the gaps copied into an ``array('d')``. At 20,000 records/s that alone took about
11 % of a master's core (``benchmarks/live_aggregation.py``). The live view only reads fields, so
``record_views`` gives each row as a ``RecordView``, a named tuple over the row's own values with the
gaps as a list of floats (``RecordBatch.itl_ms(i).tolist()``, made in C) and ``chunk_tokens`` from the
batch's packed bytes: the same names, values and ``ok`` as the ``Record``, which is what the metric
registry's per-record rules (``bench.metrics``) and ``LiveStats`` read. A test holds the live figures
of views and of ``Record`` objects equal.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from typing import Any, cast

import numpy as np

from bench.load.batch import SCALAR_COLUMNS, RecordBatch
from bench.records import Record

__all__ = ["RecordView", "record_views"]

_NONE = -1  # the wire's chunk_tokens length of a record without them (bench.load.batch)
_ERROR_KIND = SCALAR_COLUMNS.index("error_kind")


class RecordView(namedtuple("RecordView", (*SCALAR_COLUMNS, "itl_ms", "chunk_tokens"))):  # type: ignore[misc]
    """One record of a batch: ``Record``'s fields by name, and ``ok``."""

    __slots__ = ()

    @property
    def ok(self) -> bool:
        return bool(self[_ERROR_KIND] is None)


def record_views(batch: RecordBatch) -> Iterator[Record]:
    """Every record of ``batch`` as a ``RecordView`` (typed as the ``Record`` it reads as)."""
    if tuple(batch.cols) != SCALAR_COLUMNS:  # another layout: the batch's own conversion
        yield from batch.records()
        return
    _itl, _itl_n, ct, ct_n = batch.wire
    counts = np.frombuffer(ct_n, dtype=np.int32)
    tokens: Any = None
    if len(counts) and (counts != _NONE).any():
        tokens = np.frombuffer(ct, dtype=np.int64)
        ends = np.cumsum(np.where(counts == _NONE, 0, counts)).tolist()
        counts_list = counts.tolist()
    make = RecordView._make
    for i, row in enumerate(batch.rows):
        chunk_tokens = None
        if tokens is not None and counts_list[i] != _NONE:
            chunk_tokens = tokens[ends[i] - counts_list[i] : ends[i]].tolist()
        yield cast(Record, make((*row, batch.itl_ms(i).tolist(), chunk_tokens)))
