"""ITL, inter-chunk latency: the gap between two consecutive content chunks (ms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.metrics.base import Metric, finite

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np

    from bench.analysis.frames import RecordFrame
    from bench.records import Record


class Itl(Metric):
    """Inter-chunk latency: the gap between two consecutive content-carrying chunks of a stream, one
    sample per gap, pooled over the requests. Per *chunk*, like vLLM's ITL: a chunk holding several
    tokens is one gap (AIPerf's and GenAI-Perf's "ITL" is our TPOT).

    Formula: ``itl_ms[i] = (t_chunk[i+1] - t_chunk[i]) * 1000`` (``Record.itl_ms``). The request value
    (a per-request SLO limit, goodput) is the request's largest gap: every gap is within a limit exactly
    when the largest one is.

    Counts: every gap of the successful streamed requests.
    """

    name = "itl_ms"
    label = "ITL (per chunk gap)"
    unit = "ms"
    slo = True
    plotted = True
    order = 40

    def record_value(self, rec: Record) -> float | None:
        samples = self.record_samples(rec)
        return max(samples) if samples else None

    def record_samples(self, rec: Record) -> tuple[float, ...]:
        if not (rec.ok and rec.stream):
            return ()
        return tuple(float(gap) for gap in rec.itl_ms)

    def column(self, frame: RecordFrame) -> np.ndarray:
        import numpy as np

        df = frame.df
        counted = df["ok"].to_numpy(dtype=bool) & df["stream"].to_numpy(dtype=bool)
        return np.where(counted, df["itl_max_ms"].to_numpy(dtype=np.float64), np.nan)

    def values(self, frame: RecordFrame, mask: np.ndarray) -> np.ndarray:
        import numpy as np

        df = frame.df
        streamed = (
            np.asarray(mask, dtype=bool) & df["ok"].to_numpy(dtype=bool) & df["stream"].to_numpy(dtype=bool)
        )
        return finite(frame.itl_gaps(streamed))

    def describe(self, frame: RecordFrame, mask: np.ndarray) -> Mapping[str, float | int | None]:
        import numpy as np

        from bench.stats import describe_pieces

        df = frame.df
        streamed = (
            np.asarray(mask, dtype=bool) & df["ok"].to_numpy(dtype=bool) & df["stream"].to_numpy(dtype=bool)
        )
        return describe_pieces(frame.itl_pieces(streamed))  # tens of millions of gaps: never one copy

    def values_by_request(self, frame: RecordFrame, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        df = frame.df
        streamed = (
            np.asarray(mask, dtype=bool) & df["ok"].to_numpy(dtype=bool) & df["stream"].to_numpy(dtype=bool)
        )
        gaps = frame.itl_gaps(streamed)
        # Request numbers 0..k-1 (int32: tens of millions of gaps); a request without gaps owns none.
        owner = np.repeat(
            np.arange(int(streamed.sum()), dtype=np.int32), np.diff(frame.itl_offsets)[streamed]
        )
        keep = np.isfinite(gaps)
        return (gaps, owner) if keep.all() else (gaps[keep], owner[keep])


METRIC = Itl()
