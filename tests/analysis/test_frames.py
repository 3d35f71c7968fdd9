"""Loading a results directory: Parquet and JSONL give the same frame; a cut last line is skipped."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.frames import load_records
from bench.errors import ResultsError
from tests.analysis.factory import T0, make_error, make_record, write_run


def _records():
    return [
        make_record(0, at_s=0.0, itl_ms=[10.0, 20.0]),
        make_record(1, at_s=0.5, stream=False),
        make_error(2, at_s=1.0),
        make_record(3, at_s=1.5, itl_ms=[5.0, 6.0, 7.0], temperature=None),
    ]


@pytest.mark.parametrize("parquet", [False, True])
def test_records_load_with_their_gaps_in_order(tmp_path, parquet):
    run = write_run(tmp_path / "run", _records(), parquet=parquet)
    frame = load_records(run)
    df = frame.df
    assert len(frame) == 4
    assert df["start_s"].tolist() == [0.0, 0.5, 1.0, 1.5]
    assert df["end_s"].iloc[0] == pytest.approx(0.130)  # TTFT 100 + 10 + 20 ms
    assert df["ok"].tolist() == [True, True, False, True]
    assert frame.itl_offsets.tolist() == [0, 2, 2, 2, 5]
    assert frame.itl_values.tolist() == [10.0, 20.0, 5.0, 6.0, 7.0]
    assert np.isnan(df["temperature"].iloc[3])
    assert df["error_kind"].isna().tolist() == [True, True, False, True]
    assert df["error_kind"].iloc[2] == "http_error"
    assert frame.t0_s == T0


def test_parquet_and_jsonl_give_the_same_frame(tmp_path):
    a = load_records(write_run(tmp_path / "a", _records(), parquet=False)).df
    b = load_records(write_run(tmp_path / "b", _records(), parquet=True)).df
    assert a.columns.tolist() == b.columns.tolist()
    for column in a.columns:
        assert (
            a[column].tolist() == pytest.approx(b[column].tolist(), nan_ok=True)
            if a[column].dtype.kind == "f"
            else (a[column].tolist() == b[column].tolist())
        ), column


def test_parquet_in_many_row_groups_and_batches_gives_the_jsonl_frame(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import tests.analysis.factory as factory

    records = [
        make_record(i, at_s=i * 0.1, itl_ms=[1.0 + i, 2.0], temperature=None if i % 3 else 0.5)
        if i % 4
        else make_error(i, at_s=i * 0.1, kind="http_error" if i % 8 else "connect_error")
        for i in range(40)
    ]
    write_table = pq.write_table
    monkeypatch.setattr(pq, "write_table", lambda table, path: write_table(table, path, row_group_size=7))
    b = load_records(factory.write_run(tmp_path / "b", records, parquet=True))
    assert pq.ParquetFile(tmp_path / "b" / "records.parquet").metadata.num_row_groups == 6
    a = load_records(write_run(tmp_path / "a", records, parquet=False))
    assert a.df.columns.tolist() == b.df.columns.tolist()
    for column in a.df.columns:
        left, right = a.df[column].tolist(), b.df[column].tolist()
        assert left == pytest.approx(right, nan_ok=True) if a.df[column].dtype.kind == "f" else left == right
    assert a.itl_values.tolist() == b.itl_values.tolist()


def test_a_line_cut_by_a_killed_process_is_skipped_and_counted(tmp_path):
    run = write_run(tmp_path / "run", _records())
    path = run / "records" / "local.jsonl"
    whole = make_record(9, at_s=2.0).to_json()
    path.write_bytes(path.read_bytes() + whole[: len(whole) // 2])  # no newline: the write was interrupted
    frame = load_records(run)
    assert len(frame) == 4
    assert frame.skipped_lines == 1
    assert "skipped" in frame.notes[0]


def test_jsonl_files_of_several_workers_are_merged(tmp_path):
    run = write_run(tmp_path / "run", _records())
    (run / "records" / "w1.jsonl").write_bytes(make_record(7, at_s=3.0, worker="w1").to_json() + b"\n")
    frame = load_records(run)
    assert sorted(frame.df["worker"].unique()) == ["local", "w1"]
    assert len(frame) == 5


def test_missing_or_empty_directory_is_a_results_error(tmp_path):
    with pytest.raises(ResultsError, match="no such results directory"):
        load_records(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="no records"):
        load_records(tmp_path / "empty")


def test_an_empty_records_file_is_a_run_with_zero_records(tmp_path):
    run = write_run(tmp_path / "run", [])
    frame = load_records(run)
    assert len(frame) == 0
    assert frame.itl_offsets.tolist() == [0]


def test_run_start_comes_from_run_json_when_it_precedes_the_first_request(tmp_path):
    run = write_run(tmp_path / "run", [make_record(0, at_s=5.0)], run_info={"started_at_s": T0})
    assert load_records(run).df["start_s"].iloc[0] == pytest.approx(5.0)


def test_a_corrupt_parquet_file_is_a_results_error(tmp_path):
    run = write_run(tmp_path / "run", _records(), parquet=True)
    (run / "records.parquet").write_bytes(b"not parquet")
    with pytest.raises(ResultsError, match=r"records\.parquet: cannot read"):
        load_records(run)


def test_gap_pieces_and_sampled_positions_are_the_selected_gaps(monkeypatch):
    import bench.analysis.frames as frames_module
    from bench.analysis.frames import frame_from_records

    rng = np.random.default_rng(5)
    records = [
        make_record(i, at_s=i * 0.1, itl_ms=list(rng.gamma(2.0, 5.0, int(rng.integers(0, 7)))))
        for i in range(60)
    ]
    frame = frame_from_records(records)
    mask = rng.random(60) < 0.6
    want = frame.itl_gaps(mask)
    monkeypatch.setattr(frames_module, "PIECE_GAPS", 7)  # many pieces, some holding one long row
    pieces = frame.itl_pieces(mask)
    for _ in range(2):  # each call yields them again
        assert np.concatenate(list(pieces())).tolist() == want.tolist()
    positions = rng.integers(0, want.size, 500)
    assert frame.itl_at(mask, positions).tolist() == want[positions].tolist()
