"""Error rate: the share of requests that failed (a fraction)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.metrics.base import RateMetric

if TYPE_CHECKING:
    import numpy as np

    from bench.analysis.frames import RecordFrame
    from bench.records import Record


class ErrorRate(RateMetric):
    """Error rate: failed requests over all counted requests, a fraction in [0, 1]. A request failed
    when it carries an ``error_kind`` (HTTP error, timeout, broken or empty stream...).

    Formula: ``error_rate = failed / requests``; per request the value is 1 (failed) or 0, and the
    rate is their mean.

    Counts: every counted request, successful or not.
    """

    name = "error_rate"
    label = "error rate"
    unit = "fraction"
    higher_is_worse = True
    slo = True
    per_second_of_window = False
    order = 200

    def record_value(self, rec: Record) -> float | None:
        return 0.0 if rec.ok else 1.0

    def column(self, frame: RecordFrame) -> np.ndarray:
        import numpy as np

        return np.where(frame.df["ok"].to_numpy(dtype=bool), 0.0, 1.0)


METRIC = ErrorRate()
