"""What a metric is: its names, how it is judged, and its two computations (per record, over a frame).

A metric module (``bench/metrics/<name>.py``) defines one subclass of ``Metric`` and one instance of it
named ``METRIC``; ``bench.metrics`` discovers the modules. The subclass's docstring is the metric's
written definition: what it measures, its ``Formula:`` and which requests count.

Two forms of the same computation, which the tests hold equal on the same records:

- per record (``record_value``, ``record_samples``): what one finished ``Record`` contributes; the live
  view feeds its histograms with it, one record at a time;
- vectorised over a ``RecordFrame`` (``column``, ``values``): the reports, the SLO gate, compare and
  capacity, over millions of requests at once.

A *request value* is one number per request (``column``: NaN where the request has none), what a
per-request SLO limit judges (goodput). The *samples* are the values a statistic is taken over
(``values``): one per request for most metrics, one per chunk gap for ITL.

The caller says which requests count (the ``mask``: the window, cancelled requests left out); the
metric narrows that to the requests it is defined for (successful, streamed...).

Standard library only at import time (the CLI builds ``--slo`` help from the registry without loading
numpy): the computations import numpy when they run.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np

    from bench.analysis.frames import RecordFrame
    from bench.records import Record

__all__ = ["FieldMetric", "Metric", "MetricKind", "RateMetric", "SuccessSum", "finite"]

MetricKind = Literal["latency", "rate"]


class Metric:
    """Base of every metric; a subclass sets the class attributes and the computations it needs."""

    name: ClassVar[str]  # with its unit: "ttft_ms"; the key everywhere (scenario slo, --slo, summary.json)
    label: ClassVar[str]  # short, for tables and plots: "TTFT"
    title: ClassVar[str] = ""  # a few words, "time to first token"; default: the docstring's words before ":"
    unit: ClassVar[str]  # "ms", "fraction", "req/s", "tokens/s"
    kind: ClassVar[MetricKind] = "latency"
    higher_is_worse: ClassVar[bool] = True  # the direction: True for latencies and the error rate
    slo: ClassVar[bool] = False  # may be bounded in a scenario's slo block and by --slo
    per_second: ClassVar[bool] = False  # percentiles over time and per breakdown group in the report
    plotted: ClassVar[bool] = False  # a CDF in the report's latency plot
    fields: ClassVar[tuple[str, ...]] = ()  # float Record fields the frame must load for this metric
    derived: ClassVar[bool] = False  # not a Record field: the frame gets a column of it, named ``name``
    order: ClassVar[int] = 100  # position in tables (lower first)
    shown_when_empty: ClassVar[bool] = True  # a latency table row even when nothing was measured

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("title") and cls.__doc__:
            head, colon, _ = inspect.cleandoc(cls.__doc__).partition(":")
            if colon:
                cls.title = " ".join(head.split()).lower()

    @property
    def formula(self) -> str:
        """The definition written in the subclass's docstring (what, ``Formula:``, which requests)."""
        return inspect.cleandoc(type(self).__doc__ or "")

    @property
    def counts(self) -> str:
        """Which requests count, in words: the ``Counts:`` paragraph of the docstring."""
        _, found, rest = self.formula.partition("Counts:")
        return " ".join(rest.split("\n\n")[0].split()).rstrip(".") if found else ""

    @property
    def stem(self) -> str:
        """The name without its unit (``ttft``): the prefix of derived keys such as ``ttft_p95_ms``."""
        for suffix in ("_ms", "_rps", "_per_s"):
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name

    # ------------------------------------------------------------------ per record (the live view)

    def record_value(self, rec: Record) -> float | None:
        """The request value of one record, or None when the metric is not defined for it."""
        raise NotImplementedError

    def record_samples(self, rec: Record) -> tuple[float, ...]:
        """The samples one record adds to the metric's distribution (its value, or none)."""
        value = self.record_value(rec)
        return () if value is None else (value,)

    # ------------------------------------------------------------------ vectorised (the reports)

    def column(self, frame: RecordFrame) -> np.ndarray:
        """The request value of every row of ``frame`` (float64, NaN where the metric is not defined)."""
        raise NotImplementedError

    def values(self, frame: RecordFrame, mask: np.ndarray) -> np.ndarray:
        """The finite samples of the requests selected by the boolean ``mask``."""
        import numpy as np

        return finite(self.column(frame)[np.asarray(mask, dtype=bool)])

    def describe(self, frame: RecordFrame, mask: np.ndarray) -> Mapping[str, float | int | None]:
        """``bench.stats.describe`` of ``values(frame, mask)`` (ITL: without joining its gaps)."""
        from bench.stats import describe

        return describe(self.values(frame, mask))

    def values_by_request(self, frame: RecordFrame, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``values(frame, mask)`` and, for each sample, which request (0..k-1) it belongs to.

        Compare's bootstrap resamples whole requests, so samples of one request (ITL's gaps) are not
        taken as independent.
        """
        import numpy as np

        values = self.values(frame, mask)
        return values, np.arange(values.size)

    def __repr__(self) -> str:
        return f"<metric {self.name}>"


class FieldMetric(Metric):
    """A latency whose request value is one ``Record`` field, for successful (streamed) requests."""

    field: ClassVar[str]  # the Record field, in ms
    streamed_only: ClassVar[bool] = False  # only streamed requests have it (a first token, chunk gaps)
    failed_too: ClassVar[bool] = False  # failed requests count too (a measure of the client, not the server)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "field" in cls.__dict__ and "fields" not in cls.__dict__:
            cls.fields = (cls.field,)  # the frame loads the field

    def record_value(self, rec: Record) -> float | None:
        if not (self.failed_too or rec.ok) or (self.streamed_only and not rec.stream):
            return None
        value = getattr(rec, self.field)
        return None if value is None else float(value)

    def column(self, frame: RecordFrame) -> np.ndarray:
        import numpy as np

        df = frame.df
        counted = np.ones(len(df), dtype=bool) if self.failed_too else df["ok"].to_numpy(dtype=bool)
        if self.streamed_only:
            counted = counted & df["stream"].to_numpy(dtype=bool)
        return np.where(counted, df[self.field].to_numpy(dtype=np.float64), np.nan)


class RateMetric(Metric):
    """A figure of the run, not of one request: each request contributes a value, and the figure is
    their sum per second of the window (``per_second_of_window``) or their mean."""

    kind = "rate"
    higher_is_worse = False
    per_second_of_window: ClassVar[bool] = True

    def aggregate(self, values: np.ndarray, duration_s: float) -> float | None:
        """The figure from the samples of the counted requests over a window of ``duration_s`` seconds."""
        if self.per_second_of_window:
            return float(values.sum()) / duration_s if duration_s > 0 else None
        return float(values.mean()) if values.size else None

    def rate(self, frame: RecordFrame, mask: np.ndarray, duration_s: float) -> float | None:
        """The figure of the requests in ``mask`` over ``duration_s`` seconds."""
        return self.aggregate(self.values(frame, mask), duration_s)


class SuccessSum(RateMetric):
    """A rate summed over the successful requests per second: of a Record field, or of 1 per request."""

    field: ClassVar[str | None] = None  # None: each successful request adds 1

    def record_value(self, rec: Record) -> float | None:
        if not rec.ok:
            return None
        if self.field is None:
            return 1.0
        value = getattr(rec, self.field)
        return None if value is None else float(value)

    def column(self, frame: RecordFrame) -> np.ndarray:
        import numpy as np

        df = frame.df
        amount = np.ones(len(df)) if self.field is None else df[self.field].to_numpy(dtype=np.float64)
        return np.where(df["ok"].to_numpy(dtype=bool), amount, np.nan)


def finite(values: np.ndarray) -> np.ndarray:
    """``values`` as float64 without NaN or infinities (no copy when there is none)."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    return values if ok.all() else values[ok]
