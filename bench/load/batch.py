"""A batch of records in the compact form they travel in: from a load generator to the run's one writer.

Every record a load generator makes goes into a ``RecordBatch`` (``BatchBuilder.add``, cheap: no JSON on
the request path). Every 0.5 s the batch leaves: over Locust's messaging from a distributed worker to
the master, or straight to the writer in a local run (``bench.load.stream``). The writer appends it to
``records/<worker>.jsonl`` (``RecordBatch.jsonl``) and hands it to the record hub's subscribers.

The form (one msgpack-able dict, ``RecordBatch.to_wire``):

    {"v": 1, "cols": [scalar column names], "rows": [[scalar values] per record],
     "itl": <float64 bytes: every record's itl_ms, back to back>, "itl_n": <uint32 bytes: one length each>,
     "ct": <int64 bytes: chunk_tokens back to back>, "ct_n": <int32 bytes: one length each, -1 for None>}

The gap arrays stay packed machine numbers from the client's ``array('d')`` to the JSONL line: the
writer serialises numpy views of them (orjson, in C), so no per-gap Python object is ever made on the
master (nor on the worker: adding a record copies its array). The writer rounds them to 4 decimals
in one vectorised step, as ``Record.to_json`` does one by one (the two may differ by 0.0001 ms on a
value that lies on a rounding tie). Nothing here imports gevent or locust.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import orjson

from bench.records import Record

__all__ = ["ARRAY_COLUMNS", "SCALAR_COLUMNS", "WIRE_VERSION", "BatchBuilder", "RecordBatch"]

WIRE_VERSION = 1
ARRAY_COLUMNS: tuple[str, ...] = ("itl_ms", "chunk_tokens")
"""Record fields that travel packed (machine numbers in bytes), not as lists."""
SCALAR_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Record) if f.name not in ARRAY_COLUMNS)
"""Every other Record field, in Record order: one value per record in ``rows``."""
_SCALARS = operator.attrgetter(*SCALAR_COLUMNS)
_NONE = -1  # chunk_tokens length of a record without chunk_tokens
_DECIMALS = 4  # gaps are written rounded to 0.1 µs, as Record.to_json writes them
_DUMP = orjson.OPT_SERIALIZE_NUMPY


class BatchBuilder:
    """Collects records into the next batch; ``take`` hands it over and starts a new one."""

    def __init__(self) -> None:
        self._rows: list[Sequence[Any]] = []
        self._itl = array("d")
        self._itl_n = array("I")
        self._ct = array("q")
        self._ct_n = array("i")
        self._get = _SCALARS

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, record: Record) -> None:
        self._rows.append(self._get(record))
        gaps = record.itl_ms
        self._itl.extend(gaps)  # array('d') into array('d'): a copy of machine numbers
        self._itl_n.append(len(gaps))
        tokens = record.chunk_tokens
        if tokens is None:
            self._ct_n.append(_NONE)
        else:
            if tokens.itemsize == 8 and tokens.typecode in "lq":
                self._ct.frombytes(tokens.tobytes())
            else:
                self._ct.extend(tokens.tolist())
            self._ct_n.append(len(tokens))

    def take(self) -> RecordBatch:
        batch = RecordBatch(
            SCALAR_COLUMNS,
            self._rows,
            self._itl.tobytes(),
            self._itl_n.tobytes(),
            self._ct.tobytes(),
            self._ct_n.tobytes(),
        )
        self.__init__()  # type: ignore[misc]
        return batch


class RecordBatch:
    """Records in columns of packed numbers (see the module docstring); what the record hub publishes.

    For a subscriber: ``len(batch)``, ``batch.column("ttft_ms")`` (one value per record),
    ``batch.itl_ms(i)`` (record i's gaps, a float64 numpy view), ``batch.records()`` (``Record`` objects,
    made on demand) and ``batch.worker`` (which load generator sent it).
    """

    __slots__ = ("_ct", "_ct_off", "_index", "_itl", "_itl_off", "cols", "rows", "wire", "worker")

    def __init__(
        self,
        cols: Sequence[str],
        rows: Sequence[Sequence[Any]],
        itl: bytes,
        itl_n: bytes,
        ct: bytes = b"",
        ct_n: bytes = b"",
        *,
        worker: str = "",
    ) -> None:
        self.cols = tuple(cols)
        self.rows = rows
        self.worker = worker
        self.wire = (itl, itl_n, ct, ct_n)
        self._index = {name: i for i, name in enumerate(self.cols)}
        self._itl = np.round(np.frombuffer(itl, dtype=np.float64), _DECIMALS)
        self._itl_off = _offsets(np.frombuffer(itl_n, dtype=np.uint32), len(rows))
        self._ct = np.frombuffer(ct, dtype=np.int64)
        ct_lengths = np.frombuffer(ct_n, dtype=np.int32)
        self._ct_off = None if not len(ct_lengths) or (ct_lengths == _NONE).all() else ct_lengths

    def __len__(self) -> int:
        return len(self.rows)

    # -- the wire --------------------------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        itl, itl_n, ct, ct_n = self.wire
        return {"v": WIRE_VERSION, "cols": list(self.cols), "rows": self.rows, "itl": itl, "itl_n": itl_n,
                "ct": ct, "ct_n": ct_n}  # fmt: skip

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], *, worker: str = "") -> RecordBatch:
        """The batch of a ``to_wire`` dict (after msgpack); ``ValueError`` when it is not one."""
        if data.get("v") != WIRE_VERSION:
            raise ValueError(f"record batch version {data.get('v')!r}, this chatbench reads {WIRE_VERSION}")
        rows = data["rows"]
        if list(data["cols"]) != list(SCALAR_COLUMNS):
            raise ValueError("record batch columns differ from this chatbench's Record (another version?)")
        itl_n = data["itl_n"]
        if len(itl_n) != 4 * len(rows) or len(data["itl"]) != 8 * sum(np.frombuffer(itl_n, np.uint32)):
            raise ValueError("record batch gap arrays do not match its rows")
        return cls(data["cols"], rows, data["itl"], itl_n, data.get("ct", b""), data.get("ct_n", b""),
                   worker=worker)  # fmt: skip

    # -- reading it ------------------------------------------------------------------------------

    def column(self, name: str) -> list[Any]:
        """One scalar field of every record, in order."""
        i = self._index[name]
        return [row[i] for row in self.rows]

    def itl_ms(self, i: int) -> np.ndarray:
        """Record ``i``'s gaps between content chunks, ms (a read-only float64 view)."""
        return self._itl[self._itl_off[i] : self._itl_off[i + 1]]

    def _chunk_tokens(self, i: int, ends: np.ndarray | None) -> np.ndarray | None:
        if self._ct_off is None or ends is None or self._ct_off[i] == _NONE:
            return None
        return self._ct[ends[i] - self._ct_off[i] : ends[i]]

    def _ct_ends(self) -> np.ndarray | None:
        if self._ct_off is None:
            return None
        return np.cumsum(np.where(self._ct_off == _NONE, 0, self._ct_off))

    def records(self) -> Iterator[Record]:
        """The batch as ``Record`` objects (gaps as ``array('d')``, copied from the packed bytes)."""
        ends = self._ct_ends()
        for i, row in enumerate(self.rows):
            data = dict(zip(self.cols, row, strict=False))
            gaps = array("d")
            gaps.frombytes(self.itl_ms(i).tobytes())
            data["itl_ms"] = gaps
            tokens = self._chunk_tokens(i, ends)
            data["chunk_tokens"] = None if tokens is None else array("l", tokens.tolist())
            yield Record(**data)

    def jsonl(self, start: int = 0, stop: int | None = None) -> bytes:
        """Records ``start:stop`` as JSONL lines (each ending in a newline): the objects ``Record.to_json`` makes."""
        cols, itl, off = self.cols, self._itl, self._itl_off
        ends = self._ct_ends()
        out = []
        for i in range(start, len(self.rows) if stop is None else min(stop, len(self.rows))):
            data = dict(zip(cols, self.rows[i], strict=False))
            data["itl_ms"] = itl[off[i] : off[i + 1]]
            data["chunk_tokens"] = self._chunk_tokens(i, ends)
            out.append(orjson.dumps(data, option=_DUMP))
        if not out:
            return b""
        out.append(b"")
        return b"\n".join(out)


def _offsets(lengths: np.ndarray, rows: int) -> np.ndarray:
    if len(lengths) != rows:
        raise ValueError("record batch gap lengths do not match its rows")
    off = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    return off
