"""What the over-time plots draw, against hand-built records with known timings."""

from __future__ import annotations

import numpy as np

from bench.analysis import series
from bench.analysis.frames import frame_from_records
from bench.stats import min_samples, percentile_interval
from tests.analysis.factory import T0, make_error, make_record


def _frame(records):
    return frame_from_records(records, t0_s=T0)


def test_tokens_are_counted_when_their_chunks_arrived_not_when_the_request_ended():
    # One stream sent at 0 s: first chunk at 0.5 s, then gaps of 1 s and 1 s (chunks at 1.5 s and 2.5 s);
    # 6 tokens spread over 3 chunks: 2 tokens in each of seconds 0, 1 and 2. It ends at 2.5 s.
    stream = make_record(0, at_s=0.0, ttft_ms=500.0, itl_ms=(1000.0, 1000.0), output_tokens=6)
    # A non-streamed answer of 4 tokens ending at 3.05 s: all of them in second 3.
    plain = make_record(1, at_s=3.0, stream=False, e2e_ms=50.0, output_tokens=4)
    failed = make_error(2, at_s=1.0)
    frame = _frame([stream, plain, failed])
    mask = np.ones(len(frame), dtype=bool)
    edges, per_s = series.tokens_over_time(frame, mask, 4.0)
    assert edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert per_s.tolist() == [2.0, 2.0, 2.0, 4.0]
    # Two-second buckets: tokens per second is the bucket's tokens over its width.
    _, wide = series.tokens_over_time(frame, mask, 4.0, width_s=2.0)
    assert wide.tolist() == [2.0, 3.0]


def test_tokens_over_time_of_many_requests_sum_to_the_output_tokens():
    records = [make_record(i, at_s=i * 0.01, itl_ms=(5.0,) * (i % 7), output_tokens=10) for i in range(3000)]
    frame = _frame(records)
    _edges, per_s = series.tokens_over_time(frame, np.ones(len(frame), dtype=bool), 40.0)
    assert abs(per_s.sum() - 10 * 3000) < 1e-6  # 100,000+ requests would be split into batches alike


def test_buckets_are_wide_enough_for_a_p95_and_sparse_ones_are_flagged():
    # 15 requests a second for 20 s: 1 s buckets would hold 15; the width must give the 100 values a p95
    # is judged from (stats.min_samples) on average: 10 s.
    records = [make_record(i, at_s=i / 15) for i in range(300)]
    frame = _frame(records)
    width = series.bucket_width_s(300, 20.0)
    assert width == 10.0
    data = series.latency_over_time(frame, np.ones(len(frame), dtype=bool), 20.2)
    assert data.width_s == 10.0
    counts = data.counts["ttft_ms"]
    assert counts.sum() == 300
    assert (data.sparse["ttft_ms"][50.0] == (counts < 10)).all()
    assert (data.sparse["ttft_ms"][95.0] == (counts < 100)).all()
    assert (data.sparse["ttft_ms"][99.0] == (counts < 500)).all() and data.sparse["ttft_ms"][99.0].all()
    assert np.allclose(data.values["ttft_ms"][50.0][counts > 0], 100.0)


def test_errors_over_time_split_by_kind_and_status():
    records = [make_record(i, at_s=i * 0.1) for i in range(50)]
    records += [make_error(100 + i, at_s=1.0 + i * 0.01, kind="http_error", status=503) for i in range(3)]
    records += [make_error(200, at_s=2.0, kind="connect_error", status=0)]
    data = series.errors_over_time(_frame(records), np.ones(54, dtype=bool), 5.0)
    assert {k: int(v.sum()) for k, v in data.series.items()} == {
        ("http_error", 503): 3,
        ("connect_error", 0): 1,
    }
    assert next(iter(data.series)) == ("http_error", 503)  # largest first


def test_itl_by_position_follows_a_slowing_decoder():
    # Gap k of every answer is 10 + k ms: p50 per position bin rises with the position.
    records = [make_record(i, at_s=i * 0.01, itl_ms=tuple(10.0 + k for k in range(1, 41))) for i in range(50)]
    prof = series.itl_by_position(_frame(records), np.ones(50, dtype=bool))
    assert prof.answers == 50 and prof.lo[0] == 1 and prof.hi[-1] == 40
    assert (np.diff(prof.p50) > 0).all()
    assert prof.counts.sum() == 50 * 40


def test_min_samples_and_the_percentile_interval():
    assert (min_samples(50), min_samples(90), min_samples(95), min_samples(99), min_samples(99.9)) == (
        10,
        50,
        100,
        500,
        5000,
    )
    values = np.arange(1.0, 101.0)  # 1..100
    lo, hi = percentile_interval(values, 50.0)
    # n p = 50, half-width 1.96 * sqrt(25) = 9.8: ranks 40 and 60.
    assert (lo, hi) == (40.0, 60.0)
    assert percentile_interval(np.array([1.0]), 50.0) is None


def test_tokens_over_time_matches_a_chunk_by_chunk_count(monkeypatch):
    rng = np.random.default_rng(5)
    records = []
    for i in range(400):
        gaps = tuple(float(g) for g in rng.uniform(1, 400, rng.integers(0, 30)))
        records.append(
            make_record(
                i,
                at_s=float(rng.uniform(0, 20)),
                ttft_ms=float(rng.uniform(5, 900)),
                itl_ms=gaps,
                output_tokens=int(rng.integers(1, 90)),
                stream=bool(i % 5),
            )
        )
    frame = _frame(records)
    monkeypatch.setattr(series, "_BATCH_GAPS", 97)  # many batches, cut anywhere
    for width in (1.0, 2.0, 5.0):
        edges, per_s = series.tokens_over_time(frame, np.ones(len(frame), dtype=bool), 40.0, width_s=width)
        want = np.zeros(edges.size - 1)
        for r in records:
            if not r.stream:
                t = (r.started_at_s - T0) + r.e2e_ms / 1000
                want[min(int(t // width), want.size - 1)] += r.output_tokens
                continue
            t = (r.started_at_s - T0) + r.ttft_ms / 1000
            times = [t, *(t + c / 1000 for c in np.cumsum(r.itl_ms))]
            for x in times:
                want[min(int(x // width), want.size - 1)] += r.output_tokens / len(times)
        assert np.allclose(per_s * width, want), width


def test_a_bucket_is_never_wider_than_the_run() -> None:
    # 63 requests in a 15 s run: no width holds 100 per bucket, so one bucket of the run's 15 s, not 30 or 120
    assert series.bucket_width_s(63, 14.2) == 15.0
    assert series.bucket_width_s(12, 15.0) == 15.0
    assert series.bucket_width_s(3000, 15.0) == 1.0  # enough per second: the narrowest width as before
    assert series.bucket_width_s(150, 60.0) == 60.0  # 2.5 per second: 60 s is the run itself
