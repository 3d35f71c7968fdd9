"""TPOT, time per output token after the first (ms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.metrics.base import Metric

if TYPE_CHECKING:
    import numpy as np

    from bench.analysis.frames import RecordFrame
    from bench.records import Record


class Tpot(Metric):
    """Time per output token after the first: the decode time of the answer divided by the tokens
    that followed the first one.

    Formula: ``tpot_ms = (e2e_ms - ttft_ms) / (output_tokens - 1)``. GuideLLM's "TPOT" divides the whole
    time *including* TTFT by N, so it is larger than ours; fw-ai/benchmark divides by N, not N - 1.

    Counts: successful streamed requests with ``output_tokens >= 2`` and both TTFT and E2E measured.
    """

    name = "tpot_ms"
    label = "TPOT"
    unit = "ms/token"
    slo = True
    plotted = True
    per_second = True
    derived = True
    order = 30

    def record_value(self, rec: Record) -> float | None:
        tokens, ttft, e2e = rec.output_tokens, rec.ttft_ms, rec.e2e_ms
        if not (rec.ok and rec.stream) or tokens is None or tokens < 2 or ttft is None or e2e is None:
            return None
        return (e2e - ttft) / (tokens - 1)

    def column(self, frame: RecordFrame) -> np.ndarray:
        import numpy as np

        df = frame.df
        ttft = df["ttft_ms"].to_numpy(dtype=np.float64)
        e2e = df["e2e_ms"].to_numpy(dtype=np.float64)
        tokens = df["output_tokens"].to_numpy(dtype=np.float64)
        ok = df["ok"].to_numpy(dtype=bool) & df["stream"].to_numpy(dtype=bool)
        valid = ok & (tokens >= 2) & ~np.isnan(ttft) & ~np.isnan(e2e)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(valid, (e2e - ttft) / (tokens - 1), np.nan)


METRIC = Tpot()
