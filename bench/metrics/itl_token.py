"""Token-weighted ITL: each output token's share of the gap before its chunk (ms)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bench.metrics.base import Metric, finite

if TYPE_CHECKING:
    import numpy as np

    from bench.analysis.frames import RecordFrame
    from bench.records import Record


class ItlToken(Metric):
    """Token-weighted inter-token latency: when a chunk holds several tokens (speculative decoding,
    server-side batching of deltas), per-chunk ITL counts the burst once; this metric gives each token
    of chunk k (k >= 2) the value gap(k-1, k) / tokens(k), one sample per token. Known only when the
    server says how many tokens each chunk held (running usage: the ``openai`` profile's
    ``target.options.continuous_usage_stats``, vLLM).

    Formula: for chunk k of a stream with gaps ``itl_ms`` and ``chunk_tokens``, ``tokens(k)`` samples of
    ``itl_ms[k-1] / chunk_tokens[k]``; the mean is sum(gaps) / (output tokens after the first chunk).
    The request value (a per-request SLO limit) is its largest sample.

    Counts: every token after the first chunk of the successful streamed requests whose chunk token
    counts are known.
    """

    name = "itl_token_ms"
    label = "ITL (token-weighted)"
    title = "inter-token latency, token-weighted"
    unit = "ms"
    slo = True
    shown_when_empty = False
    order = 45

    def record_samples(self, rec: Record) -> tuple[float, ...]:
        counts = rec.chunk_tokens
        if not (rec.ok and rec.stream) or counts is None or len(counts) != len(rec.itl_ms) + 1:
            return ()
        out: list[float] = []
        for gap, tokens in zip(rec.itl_ms, counts[1:], strict=True):
            if tokens > 0:
                out.extend([gap / tokens] * tokens)
        return tuple(out)

    def record_value(self, rec: Record) -> float | None:
        samples = self.record_samples(rec)
        return max(samples) if samples else None

    def _counted(self, frame: RecordFrame, mask: np.ndarray | None = None) -> np.ndarray:
        import numpy as np

        df = frame.df
        counted = df["ok"].to_numpy(dtype=bool) & df["stream"].to_numpy(dtype=bool)
        return counted if mask is None else counted & np.asarray(mask, dtype=bool)

    def column(self, frame: RecordFrame) -> np.ndarray:
        import numpy as np

        out = np.full(len(frame.df), np.nan)
        for i, values in token_weighted_by_request(frame, self._counted(frame)):
            if values.size:
                out[i] = float(values.max())
        return out

    def values(self, frame: RecordFrame, mask: np.ndarray) -> np.ndarray:
        return finite(token_weighted_itl(frame, self._counted(frame, mask)))

    def values_by_request(self, frame: RecordFrame, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        parts = list(token_weighted_by_request(frame, self._counted(frame, mask)))
        if not parts:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        values = np.concatenate([finite(v) for _, v in parts])
        owners = np.concatenate([np.full(finite(v).size, k) for k, (_, v) in enumerate(parts)])
        return values, owners


METRIC = ItlToken()


def token_weighted_itl(frame: RecordFrame, mask: np.ndarray) -> np.ndarray:
    """One value per output token after each request's first chunk: gap / tokens of the chunk that
    ended the gap, for the requests in ``mask`` whose chunk token counts are known."""
    import numpy as np

    parts = [values for _, values in token_weighted_by_request(frame, mask)]
    return np.concatenate(parts) if parts else np.zeros(0)


def token_weighted_by_request(frame: RecordFrame, mask: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(row, its token-weighted ITL values) of each request in ``mask`` with known chunk token counts."""
    import numpy as np

    offsets = frame.chunk_offsets
    if offsets is None or frame.chunk_tokens.size == 0:
        return
    itl_off = frame.itl_offsets
    lengths = np.diff(offsets)
    for i in np.flatnonzero(np.asarray(mask, dtype=bool) & (lengths > 1)):
        counts = frame.chunk_tokens[offsets[i] : offsets[i + 1]]
        gaps = frame.itl_values[itl_off[i] : itl_off[i + 1]]
        if gaps.size != counts.size - 1:
            continue
        later = counts[1:]
        keep = later > 0
        yield int(i), np.repeat(gaps[keep] / later[keep], later[keep])
