"""The typed summary of a run: what analysis hands to the report, and the schema of ``summary.json``.

``Summary`` is a tree of frozen dataclasses read by attribute (``summary.steady.latency_ms["ttft_ms"].p95``);
its per-metric figures are keyed by the metric names of ``bench.metrics``. ``Summary.to_json()`` is the
one serialised form, ``summary.json`` (keys documented in ``docs/report.md``, ``SCHEMA_VERSION`` below),
and ``Summary.from_json()`` reads it back (a run's ``summary.json`` on disk). A figure that cannot be
computed is ``None``, never NaN.

Three blocks are kept in their JSON form, each owned by the module that writes it: ``window.schedule``
(``bench.analysis.window.Schedule.to_dict``), ``workload`` (``bench.analysis.workload``: optional parts
a run may or may not have) and ``timeseries`` (columns of ``bench.analysis.metrics.per_second``). The
report adds ``verdict`` (the SLO gate's ``slo.json`` form), ``server_metrics`` and ``files``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any, cast

from bench import metrics as registry
from bench.analysis.bottleneck import LoadgenHealth
from bench.analysis.outage import Outage
from bench.analysis.window import Window

__all__ = [
    "SCHEMA_VERSION",
    "BreakdownRow",
    "ErrorMessage",
    "Errors",
    "Goodput",
    "GroupLatency",
    "LeftOut",
    "RunBlock",
    "Section",
    "SloBlock",
    "Stats",
    "Summary",
    "Throughput",
    "WindowBlock",
]

SCHEMA_VERSION = 3
"""2: the window from the schedule (docs/report.md); 3: ``latency_ms`` keyed by the metric names of
``bench.metrics`` (``ttft_ms``; 1 and 2 had ``ttft``)."""

JSON = dict[str, Any]


def _plain(value: Any) -> Any:
    """A block's field in its JSON form: blocks by their ``to_json``, tuples as lists, mappings as dicts."""
    if isinstance(value, _Block):
        return value.to_json()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class _Block:
    """A frozen dataclass of the summary whose JSON form is its fields, in order (``_plain`` each)."""

    def to_json(self) -> JSON:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(cast(Any, self))}


def _pkey(q: float) -> str:
    """50.0 -> 'p50', 99.9 -> 'p99.9' (the keys of ``bench.stats.describe``)."""
    return f"p{q:g}"


@dataclass(frozen=True)
class Stats(_Block):
    """``bench.stats.describe`` of some values: count, mean, min, max and the percentiles."""

    count: int
    mean: float | None
    min: float | None
    max: float | None
    percentiles: Mapping[str, float | None]  # "p50", "p90", ... "p99.9" (PERCENTILES), in that order

    def p(self, q: float) -> float | None:
        """The q-th percentile (``p(95)``), None when not measured."""
        return self.percentiles.get(_pkey(q))

    @property
    def p50(self) -> float | None:
        return self.p(50)

    @property
    def p95(self) -> float | None:
        return self.p(95)

    @property
    def p99(self) -> float | None:
        return self.p(99)

    def to_json(self) -> JSON:
        return {"count": self.count, "mean": self.mean, "min": self.min, "max": self.max, **self.percentiles}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Stats:
        fixed = ("count", "mean", "min", "max")
        return cls(
            int(d["count"]),
            d.get("mean"),
            d.get("min"),
            d.get("max"),
            {k: v for k, v in d.items() if k not in fixed},
        )


@dataclass(frozen=True)
class Throughput(_Block):
    """Requests and tokens per second over a window (``bench.analysis.metrics.throughput``)."""

    requests_per_s: float | None
    attempts_per_s: float | None
    output_tokens_per_s: float | None
    total_tokens_per_s: float | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Throughput:
        return cls(
            d["requests_per_s"], d["attempts_per_s"], d["output_tokens_per_s"], d["total_tokens_per_s"]
        )


@dataclass(frozen=True)
class ErrorMessage:
    """One of the commonest failures, in the server's own words."""

    error_kind: str
    status: int
    message: str
    count: int


@dataclass(frozen=True)
class Errors(_Block):
    """Failed requests by error kind, by HTTP status ("0": no status received), the commonest messages."""

    by_kind: Mapping[str, int]
    by_status: Mapping[str, int]
    top_messages: tuple[ErrorMessage, ...]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Errors:
        return cls(
            dict(d["by_kind"]), dict(d["by_status"]), tuple(ErrorMessage(**m) for m in d["top_messages"])
        )


@dataclass(frozen=True)
class Goodput(_Block):
    """Requests that met every per-request SLO limit (``bench.analysis.metrics.goodput``)."""

    limits_ms: Mapping[str, float]  # empty: no per-request threshold, goodput not defined
    ignored: tuple[str, ...]
    good: int | None
    good_share: float | None
    goodput_rps: float | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Goodput:
        return cls(dict(d["limits_ms"]), tuple(d["ignored"]), d["good"], d["good_share"], d["goodput_rps"])


@dataclass(frozen=True)
class Section(_Block):
    """The figures of one column of the report: the steady window, or the whole run.

    Counts, error rate and errors are over every counted request; ``latency_ms`` (keyed by metric name),
    the token statistics and goodput's share over the successful requests that ended in the window.
    """

    duration_s: float
    requests: int
    succeeded: int
    failed: int
    error_rate: float | None
    resent: int
    resent_failed: int
    throttled: int
    window_requests: int
    window_failed: int
    throughput: Throughput
    latency_ms: Mapping[str, Stats]
    output_tokens: Stats
    prompt_tokens: Stats
    errors: Errors
    goodput: Goodput

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Section:
        return cls(
            duration_s=d["duration_s"],
            requests=d["requests"],
            succeeded=d["succeeded"],
            failed=d["failed"],
            error_rate=d["error_rate"],
            resent=d.get("resent", 0),
            resent_failed=d.get("resent_failed", 0),
            throttled=d.get("throttled", 0),
            window_requests=d["window_requests"],
            window_failed=d["window_failed"],
            throughput=Throughput.from_json(d["throughput"]),
            latency_ms={name: Stats.from_json(s) for name, s in d["latency_ms"].items()},
            output_tokens=Stats.from_json(d["output_tokens"]),
            prompt_tokens=Stats.from_json(d["prompt_tokens"]),
            errors=Errors.from_json(d["errors"]),
            goodput=Goodput.from_json(d["goodput"]),
        )


BREAKDOWN_PERCENTILES: tuple[float, ...] = (50.0, 95.0)
"""The percentiles of each latency per breakdown group (``bench.analysis.metrics.breakdowns``)."""


@dataclass(frozen=True)
class GroupLatency:
    """One latency of one breakdown group: n values, p50 and p95 (ms) with their 95 % intervals."""

    n: int
    percentiles: Mapping[str, float | None]  # "p50", "p95"
    intervals: Mapping[str, tuple[float, float] | None]  # "p50", "p95": [lo, hi], None under two values

    def p(self, q: float) -> float | None:
        return self.percentiles.get(_pkey(q))

    def interval(self, q: float) -> tuple[float, float] | None:
        return self.intervals.get(_pkey(q))


@dataclass(frozen=True)
class BreakdownRow(_Block):
    """The figures of the requests whose breakdown column took one ``value``; ``latency`` by metric name."""

    value: str
    requests: int
    failed: int
    error_rate: float | None
    latency: Mapping[str, GroupLatency]
    output_tokens_mean: float | None

    def to_json(self) -> JSON:
        out: JSON = {
            "value": self.value,
            "requests": self.requests,
            "failed": self.failed,
            "error_rate": self.error_rate,
        }
        for name, lat in self.latency.items():
            stem = registry.get(name).stem
            out[f"{stem}_n"] = lat.n
            for q in BREAKDOWN_PERCENTILES:
                tag = _pkey(q)
                out[f"{stem}_{tag}_ms"] = lat.percentiles.get(tag)
                interval = lat.intervals.get(tag)
                out[f"{stem}_{tag}_ci_ms"] = list(interval) if interval is not None else None
        out["output_tokens_mean"] = self.output_tokens_mean
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BreakdownRow:
        latency: dict[str, GroupLatency] = {}
        for metric in registry.all_metrics(kind="latency"):
            stem = metric.stem
            if f"{stem}_n" not in d:
                continue
            tags = [_pkey(q) for q in BREAKDOWN_PERCENTILES]
            intervals = {t: d.get(f"{stem}_{t}_ci_ms") for t in tags}
            latency[metric.name] = GroupLatency(
                int(d[f"{stem}_n"]),
                {t: d.get(f"{stem}_{t}_ms") for t in tags},
                {t: (float(v[0]), float(v[1])) if v is not None else None for t, v in intervals.items()},
            )
        return cls(
            str(d["value"]), d["requests"], d["failed"], d["error_rate"], latency, d.get("output_tokens_mean")
        )


@dataclass(frozen=True)
class RunBlock(_Block):
    """Which run this is: ids, target, clock origin, what was read."""

    run_id: str | None
    scenario: str | None
    target: str | None
    started_at: str | None  # ISO 8601, UTC, of the first request
    t0_s: float | None  # epoch seconds of the run's clock origin
    duration_s: float
    records: int
    skipped_lines: int
    source: str  # "records.parquet" or the JSONL files
    workers: tuple[str, ...]
    lost_workers: tuple[Mapping[str, Any], ...]  # run.json's lost_workers entries
    open_loop: bool

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunBlock:
        return cls(
            d.get("run_id"),
            d.get("scenario"),
            d.get("target"),
            d.get("started_at"),
            d.get("t0_s"),
            d["duration_s"],
            d["records"],
            d.get("skipped_lines", 0),
            d["source"],
            tuple(d.get("workers") or ()),
            tuple(d.get("lost_workers") or ()),
            bool(d.get("open_loop", False)),
        )


@dataclass(frozen=True)
class LeftOut:
    """Counted requests the window left out, how many of them failed, and those cancelled by the run."""

    requests: int
    failed: int
    cancelled: int


@dataclass(frozen=True)
class WindowBlock(Window, _Block):
    """The window the steady figures cover (a ``Window``), the offered load's window, what it left out."""

    offered_start_s: float | None = None
    offered_end_s: float | None = None
    schedule: Mapping[str, Any] | None = None  # bench.analysis.window.Schedule.to_dict()
    requests: int = 0  # counted requests that ended in the window
    left_out: LeftOut = LeftOut(0, 0, 0)

    def to_json(self) -> JSON:
        return {
            **self.to_dict(),
            "offered": {"start_s": self.offered_start_s, "end_s": self.offered_end_s},
            "schedule": None if self.schedule is None else dict(self.schedule),
            "requests": self.requests,
            "left_out": asdict(self.left_out),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowBlock:
        offered = d.get("offered") or {}
        left = d.get("left_out") or {}
        return cls(
            d["start_s"],
            d["end_s"],
            d["source"],
            d.get("note") or "",
            offered.get("start_s"),
            offered.get("end_s"),
            d.get("schedule"),
            d.get("requests", 0),
            LeftOut(left.get("requests", 0), left.get("failed", 0), left.get("cancelled", 0)),
        )


@dataclass(frozen=True)
class SloBlock(_Block):
    """The SLO thresholds the figures were computed against (goodput), and which apply per request."""

    thresholds: Mapping[str, Any]  # bench.scenario.slo.Slo.to_dict() form
    per_request_limits_ms: Mapping[str, float]
    not_per_request: tuple[str, ...]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SloBlock:
        return cls(dict(d["thresholds"]), dict(d["per_request_limits_ms"]), tuple(d["not_per_request"]))


@dataclass(frozen=True)
class Summary:
    """Every figure the reports show (module docstring); ``to_json()`` is ``summary.json``."""

    run: RunBlock
    window: WindowBlock
    steady: Section
    whole_run: Section
    breakdowns: Mapping[str, tuple[BreakdownRow, ...]]  # by column that varied
    slo: SloBlock
    loadgen: LoadgenHealth | None
    outages: tuple[Outage, ...]
    workload: Mapping[str, Any]  # bench.analysis.workload's block, JSON form
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    timeseries: Mapping[str, list[Any]]  # per-second columns, JSON form
    schema_version: int = SCHEMA_VERSION
    # Added by the report (bench.report.build_report):
    verdict: Mapping[str, Any] | None = None  # the SLO gate's verdict, slo.json's form
    server_metrics: Mapping[str, Any] | None = None  # bench.servermetrics.analysis's block, when scraped
    files: Mapping[str, str] = field(default_factory=dict)  # what the report wrote: name -> file name

    def reported(
        self,
        *,
        verdict: Mapping[str, Any] | None,
        server_metrics: Mapping[str, Any] | None,
        note: str | None,
        files: Mapping[str, str],
    ) -> Summary:
        """This summary with what the report adds: the gate's verdict, the server's block and note, files."""
        notes = (*self.notes, note) if note else self.notes
        return replace(self, verdict=verdict, server_metrics=server_metrics, notes=notes, files=dict(files))

    def to_json(self) -> JSON:
        """The ``summary.json`` form (key order included: the file is compared across runs by eye)."""
        out: JSON = {
            "schema_version": self.schema_version,
            "run": self.run.to_json(),
            "window": self.window.to_json(),
            "steady": self.steady.to_json(),
            "whole_run": self.whole_run.to_json(),
            "breakdowns": {col: [r.to_json() for r in rows] for col, rows in self.breakdowns.items()},
            "slo": self.slo.to_json(),
            "loadgen": self.loadgen.to_dict() if self.loadgen is not None else None,
            "outages": [o.to_dict() for o in self.outages],
            "workload": dict(self.workload),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "timeseries": {col: list(values) for col, values in self.timeseries.items()},
        }
        if self.files:  # written by the report: its three keys
            out["verdict"] = dict(self.verdict) if self.verdict is not None else None
            if self.server_metrics is not None:
                out["server_metrics"] = dict(self.server_metrics)
            out["files"] = dict(self.files)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Summary:
        """Read ``summary.json``'s form back (schema 3)."""
        loadgen = d.get("loadgen")
        return cls(
            run=RunBlock.from_json(d["run"]),
            window=WindowBlock.from_json(d["window"]),
            steady=Section.from_json(d["steady"]),
            whole_run=Section.from_json(d["whole_run"]),
            breakdowns={
                col: tuple(BreakdownRow.from_json(r) for r in rows)
                for col, rows in (d.get("breakdowns") or {}).items()
            },
            slo=SloBlock.from_json(d["slo"]),
            loadgen=LoadgenHealth(**loadgen) if loadgen is not None else None,
            outages=tuple(
                Outage(o["start_s"], o["end_s"], o["requests"], dict(o["kinds"]), o["unreachable"])
                for o in d.get("outages") or ()
            ),
            workload=dict(d.get("workload") or {}),
            warnings=tuple(d.get("warnings") or ()),
            notes=tuple(d.get("notes") or ()),
            timeseries=dict(d.get("timeseries") or {}),
            schema_version=int(d.get("schema_version", SCHEMA_VERSION)),
            verdict=d.get("verdict"),
            server_metrics=d.get("server_metrics"),
            files=dict(d.get("files") or {}),
        )
