"""reasoning_ms and itl_token_ms on records of known values: the per-record and vectorised forms agree
(JSONL and Parquet), and the numbers are the hand-computed ones."""

from __future__ import annotations

import math
from array import array

import numpy as np
import pytest

from bench import metrics
from bench.analysis.frames import load_records
from tests.analysis.factory import make_record, write_run


def _records():  # type: ignore[no-untyped-def]
    return [
        # chunks of 1, 4, 2 tokens after gaps 40 and 10 ms; reasoned for 150 ms
        make_record(
            0, itl_ms=(40.0, 10.0), chunk_tokens=array("l", [1, 4, 2]), output_tokens=7, reasoning_ms=150.0
        ),
        make_record(1, at_s=0.5, itl_ms=(8.0,), chunk_tokens=array("l", [2, 2]), output_tokens=4),
        make_record(2, at_s=1.0, itl_ms=(5.0, 5.0)),  # no chunk counts, no reasoning
        make_record(
            3, at_s=1.5, itl_ms=(9.0,), chunk_tokens=array("l", [1, 3]), error_kind="stream_incomplete"
        ),
    ]


@pytest.mark.parametrize("parquet", [False, True])
@pytest.mark.parametrize("name", ["reasoning_ms", "itl_token_ms"])
def test_forms_agree_and_the_values_are_known(tmp_path, parquet, name):
    records = _records()
    frame = load_records(write_run(tmp_path / "run", records, parquet=parquet))
    metric = metrics.get(name)
    column = metric.column(frame)
    for one, vec in zip((metric.record_value(r) for r in records), column, strict=True):
        assert (one is None and math.isnan(vec)) or vec == pytest.approx(one)
    every = np.ones(len(records), dtype=bool)
    samples = [x for r in records for x in metric.record_samples(r)]
    assert metric.values(frame, every).tolist() == pytest.approx(samples)
    values, owners = metric.values_by_request(frame, every)
    assert values.tolist() == pytest.approx(samples) and owners.size == values.size
    if name == "reasoning_ms":
        assert samples == [150.0]
    else:
        assert samples == pytest.approx([10.0] * 4 + [5.0] * 2 + [4.0] * 2)
        assert column[0] == 10.0 and column[1] == 4.0 and math.isnan(column[2]) and math.isnan(column[3])
