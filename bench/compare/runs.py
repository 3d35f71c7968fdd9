"""Compare two runs for regressions, accounting for noise with bootstrap confidence intervals.

Each run is read from its results directory and measured as the report measures it
(``bench.analysis.selection``): latency and throughput over its steady-state window, decided from the
run's schedule of offered load; the error rate over every request sent; cancelled requests left out.
For every metric:

Every metric compared is one of ``bench.metrics``: each latency that may be an SLO, and each rate.

- latency percentiles (TTFT, TPOT, ITL, E2E... at p50/p90/p99, ms): delta = candidate - baseline; its
  confidence interval comes from a seeded bootstrap (``bootstrap_stats``): each run's successful requests
  are resampled with replacement ``resamples`` times (2000 by default), the percentile is taken of each
  resample, and the tails of the candidate-minus-baseline replicates, centred on the exact difference,
  bound the interval. The request is
  the unit resampled, so ITL's many gaps per request are not treated as independent;
- throughput (successful requests/s, output tokens/s: the rates counted per second of the window): the
  mean of per-second counts in the window; the interval comes from bootstrapping those seconds;
- error rate (failed / all requests): difference of two proportions, with an Agresti-Caffo interval
  (one success and one failure added to each run), which stays sensible at zero errors.

The default confidence is 99 % per metric, not 95 %: about fifteen metrics are judged at once, and at
95 % one of them would cross zero by chance in about half of all comparisons of two identical setups.

A percentile is judged only from enough values in each run, the one rule of
``bench.stats.min_samples`` (5 values beyond it: p99 needs 500 values, p90 50): the bootstrap is
unreliable for extreme quantiles of small samples, so such a metric is shown but marked "n/a" with the reason.

A metric *regressed* when the change is in the bad direction (latency or error rate up, throughput down),
its interval excludes zero (significant), **and** it is beyond the tolerance: relative change beyond
``tolerance`` (default 5 %) for latency and throughput, absolute change beyond ``error_tolerance``
(default 0.005 = 0.5 percentage points) for the error rate. Improvements are marked the same way.
The overall verdict (``Comparison.verdict``) is one of three. **regression**: at least one metric
regressed. **inconclusive**: a run carries the load generator's "timing may be inflated" warning
(``bench.analysis.bottleneck``: its own CPU or event-loop lag, not the server, may explain a change), or
none of the requested metrics could be judged; a regression is then never claimed, and the metrics that
moved are still shown. **no significant regression** otherwise. Metrics that could not be judged are
listed apart. Runs of different workloads (other requests, load model or load level:
``bench.compare.workload``) are refused unless ``force`` is given, and the verdict then says what differed.
Numpy only (no scipy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench import metrics
from bench.analysis.frames import RecordFrame
from bench.analysis.selection import Selection
from bench.analysis.window import Window
from bench.compare.workload import differences
from bench.errors import ResultsError, UsageError
from bench.gates import data
from bench.stats import TAIL_VALUES, describe, judged, min_samples

__all__ = [
    "DEFAULT_METRICS",
    "MAX_BOOTSTRAP_VALUES",
    "CompareVerdict",
    "Comparison",
    "MetricDelta",
    "RunSample",
    "bootstrap_stats",
    "compare_runs",
    "compare_samples",
    "load_sample",
    "select_metrics",
]

LATENCY: tuple[str, ...] = metrics.names(kind="latency", slo=True)
"""Latencies compared at percentiles: those of ``bench.metrics`` that may be an SLO (server latencies)."""
PER_SECOND: tuple[str, ...] = tuple(
    m.name
    for m in metrics.all_metrics(kind="rate")
    if isinstance(m, metrics.RateMetric) and m.per_second_of_window
)
"""Rates compared as the mean of per-second figures (throughput_rps, output_tokens_per_s)."""
RATES: tuple[str, ...] = metrics.names(kind="rate")
DEFAULT_METRICS: tuple[str, ...] = (*(f"{m}.{s}" for m in LATENCY for s in ("p50", "p90", "p99")), *RATES)
"""Metric names ``compare`` reports by default (``--metric`` picks a subset)."""
MAX_BOOTSTRAP_VALUES = 20_000
"""Above this many values (ITL gaps of a long run), a seeded random subset of whole requests is
bootstrapped: fewer values only widen the interval, never narrow it."""

Verdict = Literal["regression", "improvement", "no change", "n/a"]
CompareVerdict = Literal["regression", "no significant regression", "inconclusive"]


@dataclass(frozen=True)
class RunSample:
    """What ``compare`` needs of one run: raw latency values, per-second throughput, request counts."""

    name: str
    latency_ms: dict[str, np.ndarray]  # metric -> raw values of successful requests in the window
    owners: dict[str, np.ndarray]  # metric -> which request (0..k-1) each value belongs to
    per_second: dict[str, np.ndarray]  # rate metric -> its figure in each second of the window
    requests: int
    failed: int
    window: Window | None = None
    scenario: dict[str, Any] = field(default_factory=dict)  # the run's scenario.json ({} when absent)
    timing_warning: str | None = None  # the load generator may have inflated this run's timing


@dataclass(frozen=True)
class MetricDelta:
    """One metric of both runs, the change, its confidence interval and the verdict."""

    metric: str
    unit: str
    baseline: float | None
    candidate: float | None
    delta: float | None  # candidate - baseline
    relative: float | None  # delta / baseline
    ci_low: float | None  # confidence interval of delta
    ci_high: float | None
    higher_is_worse: bool
    significant: bool
    verdict: Verdict
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    tolerance: float
    error_tolerance: float
    confidence: float
    resamples: int
    seed: int
    deltas: tuple[MetricDelta, ...]
    notes: tuple[str, ...] = field(default=())
    inconclusive_because: tuple[str, ...] = ()  # why no verdict can be given (see ``verdict``)
    forced: tuple[str, ...] = ()  # differences of the workloads compared anyway (--force)

    @property
    def regressions(self) -> tuple[MetricDelta, ...]:
        """Metrics that changed for the worse beyond noise and tolerance (a REGRESSION only when the
        verdict is not inconclusive)."""
        return tuple(d for d in self.deltas if d.verdict == "regression")

    @property
    def judged(self) -> tuple[MetricDelta, ...]:
        return tuple(d for d in self.deltas if d.verdict != "n/a")

    @property
    def not_judged(self) -> tuple[MetricDelta, ...]:
        """Metrics shown but not judged (too few values, nothing measured): listed apart."""
        return tuple(d for d in self.deltas if d.verdict == "n/a")

    @property
    def verdict(self) -> CompareVerdict:
        """``inconclusive`` when a run's timing may be inflated by the load generator, or when no
        requested metric could be judged; else ``regression`` or ``no significant regression``."""
        if self.inconclusive_because:
            return "inconclusive"
        return "regression" if self.regressions else "no significant regression"

    def to_dict(self) -> dict[str, Any]:
        settings = (
            "baseline",
            "candidate",
            "tolerance",
            "error_tolerance",
            "confidence",
            "resamples",
            "seed",
        )
        return {
            **{name: getattr(self, name) for name in settings},
            "verdict": self.verdict,
            "regressed": self.verdict == "regression",
            "inconclusive_because": list(self.inconclusive_because),
            "regressions": [d.metric for d in self.regressions],
            "not_judged": [d.metric for d in self.not_judged],
            "forced": list(self.forced),
            "metrics": [d.to_dict() for d in self.deltas],
            "notes": list(self.notes),
        }


def load_sample(run_dir: str | Path) -> RunSample:
    """Read a results directory and keep what ``compare`` needs, over its steady-state window."""
    from bench.analysis.bottleneck import assess

    path = Path(run_dir)
    frame = data.as_frame(path)
    sample = sample_from_frame(frame, path.name, data.selection(path, frame))
    health = assess(path)
    return replace(
        sample,
        scenario=data.load_scenario_json(path),
        timing_warning=health.message if health.inflated else None,
    )


def sample_from_frame(frame: RecordFrame, name: str, selection: Selection | None = None) -> RunSample:
    """``RunSample`` of a loaded frame: latency and throughput over the window of ``selection`` (default:
    records without a schedule, the whole run), the error rate over every request the run sent."""
    df = frame.df
    end_s = df["end_s"].to_numpy()
    sel = selection if selection is not None else data.selection(frame, frame)
    window = sel.window
    mask = sel.in_window
    lo = float(end_s[mask].min()) if window.source == "whole_run" and mask.any() else window.start_s
    hi = float(end_s[mask].max()) if window.source == "whole_run" and mask.any() else window.end_s
    seconds = max(math.floor(hi - lo), 1)
    edges = lo + np.arange(seconds + 1, dtype=np.float64)
    edges[-1] = max(edges[-1], hi + 1e-9)  # the last (partial) second takes the remainder
    width = np.diff(edges)
    per_second: dict[str, np.ndarray] = {}
    for rate in PER_SECOND:
        contribution = np.nan_to_num(metrics.get(rate).column(frame)[mask])  # NaN: adds nothing
        sums, _ = np.histogram(end_s[mask], bins=edges, weights=contribution)
        per_second[rate] = sums / width
    latency: dict[str, np.ndarray] = {}
    owners: dict[str, np.ndarray] = {}
    for metric in LATENCY:
        # Each value tagged with its request, so the bootstrap can resample whole requests (ITL's gaps).
        latency[metric], owners[metric] = metrics.get(metric).values_by_request(frame, mask)
    return RunSample(
        name=name,
        latency_ms=latency,
        owners=owners,
        per_second=per_second,
        requests=sel.requests,
        failed=sel.failed,
        window=window,
    )


def bootstrap_stats(
    values: np.ndarray,
    owners: np.ndarray,
    stats: Sequence[str],
    *,
    resamples: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """``resamples`` bootstrap replicates of each statistic (``p50``... or ``mean``) of ``values``.

    The unit resampled is the request: ``owners[i]`` says which request value i belongs to (0..k-1), k
    requests are drawn with replacement, and each value counts as often as its request was drawn. For
    one value per request this is the ordinary bootstrap; for ITL (many correlated gaps per request) it
    is the cluster bootstrap, which does not pretend the gaps of one request are independent. Replicate
    percentiles are weighted inverse-CDF values (the first value whose cumulative weight reaches q).
    Vectorised in memory-bounded chunks of resamples.
    """
    if values.size > MAX_BOOTSTRAP_VALUES:  # keep a seeded random subset of whole requests
        units = int(owners.max()) + 1
        keep_units = rng.random(units) < MAX_BOOTSTRAP_VALUES / values.size
        keep = keep_units[owners]
        values, owners = values[keep], np.unique(owners[keep], return_inverse=True)[1]
    order = np.argsort(values, kind="stable")
    v, own = values[order], owners[order]
    units = int(own.max()) + 1
    g = v.size
    out = {s: np.empty(resamples, dtype=np.float64) for s in stats}
    chunk = max(1, min(resamples, 2_000_000 // max(g, units)))
    wanted = [(stat, float(stat[1:]) / 100.0) for stat in stats if stat != "mean"]
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        draws = rng.integers(0, units, size=(rows, units)) + (np.arange(rows) * units)[:, None]
        counts = np.bincount(draws.ravel(), minlength=rows * units).reshape(rows, units).astype(np.int32)
        weights = counts[:, own]  # rows x g: how often each value's request was drawn
        if "mean" in stats:
            out["mean"][start : start + rows] = (weights @ v) / np.maximum(weights.sum(axis=1), 1)
        if not wanted:
            continue
        cumulative = np.cumsum(weights, axis=1, dtype=np.int64)
        total = cumulative[:, -1].copy()
        # One searchsorted over all rows: shift row r by r * (largest total + 1) so the rows stay sorted.
        shift = (np.arange(rows, dtype=np.int64) * (int(total.max()) + 1))[:, None]
        flat = (cumulative + shift).ravel()
        for stat, q in wanted:
            target = np.ceil(q * total - 1e-9).astype(np.int64)  # cumulative weight the quantile needs
            idx = np.searchsorted(flat, np.maximum(target, 1) + shift[:, 0]) - np.arange(rows) * g
            out[stat][start : start + rows] = v[np.minimum(idx, g - 1)]
    return out


def _interval(diffs: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(diffs, [tail, 100.0 - tail], method="linear")
    return float(lo), float(hi)


def _verdict(
    delta: float, relative: float | None, ci: tuple[float, float], higher_is_worse: bool, beyond: bool
) -> tuple[bool, Verdict]:
    significant = ci[0] > 0 or ci[1] < 0
    worse = delta > 0 if higher_is_worse else delta < 0
    if significant and beyond:
        return True, "regression" if worse else "improvement"
    return significant, "no change"


def _na(metric: str, unit: str, higher_is_worse: bool, base: float | None, cand: float | None) -> MetricDelta:
    return MetricDelta(metric, unit, base, cand, None, None, None, None, higher_is_worse, False, "n/a")


def compare_samples(
    baseline: RunSample,
    candidate: RunSample,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    tolerance: float = 0.05,
    error_tolerance: float = 0.005,
    confidence: float = 0.99,
    resamples: int = 2000,
    seed: int = 0,
    force: bool = False,
) -> Comparison:
    """Metric-by-metric deltas of ``candidate`` against ``baseline`` with noise-aware verdicts.

    Runs of different workloads (``bench.compare.workload.differences``) are refused with a
    ``UsageError`` unless ``force``; then the differences are in ``Comparison.forced``.
    """
    differ = differences(baseline.scenario, candidate.scenario)
    if differ and not force:
        raise UsageError(
            f"compare: {baseline.name} and {candidate.name} cannot be judged against each other: "
            f"{'; '.join(differ)}. Compare runs of one workload, or pass --force to compare anyway"
        )
    wanted: dict[str, list[str]] = {}
    for name in metrics:
        metric, _, stat = name.partition(".")
        if metric in LATENCY and stat != "max":
            wanted.setdefault(metric, []).append(stat)
    replicates: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for k, (metric, stats) in enumerate(wanted.items()):
        for run, sample in (("a", baseline), ("b", candidate)):
            values = sample.latency_ms[metric]
            if values.size:
                rng = np.random.default_rng([seed, k, run == "b"])
                replicates[(run, metric)] = bootstrap_stats(
                    values, sample.owners[metric], stats, resamples=resamples, rng=rng
                )
    # The exact figures, all statistics of a metric in one pass (``describe``: the project percentile).
    exact: dict[tuple[str, str], Mapping[str, float | int | None]] = {}
    for metric in {name.partition(".")[0] for name in metrics if name.partition(".")[0] in LATENCY}:
        qs = [float(n.partition(".")[2][1:]) for n in metrics if n.startswith(f"{metric}.p")]
        for run, sample in (("a", baseline), ("b", candidate)):
            exact[(run, metric)] = describe(sample.latency_ms[metric], qs)
    deltas: list[MetricDelta] = []
    for name in metrics:
        if name in PER_SECOND:
            rng = np.random.default_rng([seed, 100 + len(deltas)])
            deltas.append(_throughput_delta(name, baseline, candidate, tolerance, confidence, resamples, rng))
        elif name == "error_rate":
            deltas.append(_error_rate_delta(baseline, candidate, error_tolerance, confidence))
        else:
            deltas.append(_latency_delta(name, baseline, candidate, tolerance, confidence, replicates, exact))
    notes = []
    for s in (baseline, candidate):
        if s.window is not None and s.window.source == "whole_run":
            notes.append(f"{s.name}: no load schedule in its results; the whole run was compared")
    if baseline.scenario.get("name") != candidate.scenario.get("name") and not differ:
        notes.append(
            f"the scenarios are named differently ({baseline.scenario.get('name')!r}, "
            f"{candidate.scenario.get('name')!r}) but send the same requests at the same load"
        )
    inconclusive = [
        f"{s.name}: {s.timing_warning}" for s in (baseline, candidate) if s.timing_warning is not None
    ]
    if not any(d.verdict != "n/a" for d in deltas):
        inconclusive.append("none of the requested metrics could be judged (too few values in a run)")
    return Comparison(
        baseline.name,
        candidate.name,
        tolerance,
        error_tolerance,
        confidence,
        resamples,
        seed,
        tuple(deltas),
        tuple(notes),
        tuple(inconclusive),
        tuple(differ),
    )


def _latency_delta(
    name: str,
    base: RunSample,
    cand: RunSample,
    tolerance: float,
    confidence: float,
    replicates: dict[tuple[str, str], dict[str, np.ndarray]],
    exact: dict[tuple[str, str], Mapping[str, float | int | None]],
) -> MetricDelta:
    metric, _, stat = name.partition(".")
    va, vb = _float(exact[("a", metric)][stat]), _float(exact[("b", metric)][stat])
    if va is None or vb is None:
        return _na(name, "ms", True, va, vb)
    if stat == "max":  # a single extreme value has no useful interval: shown, never judged
        return MetricDelta(name, "ms", va, vb, vb - va, _rel(vb - va, va), None, None, True, False, "n/a")
    if stat.startswith("p"):
        fewest = min(base.latency_ms[metric].size, cand.latency_ms[metric].size)
        if not judged(stat, fewest):
            need = min_samples(float(stat[1:]))
            note = f"not judged: {fewest} values, {stat} needs {need} ({TAIL_VALUES} beyond it)"
            return MetricDelta(
                name, "ms", va, vb, vb - va, _rel(vb - va, va), None, None, True, False, "n/a", note
            )
    delta = vb - va
    # The spread of the replicate differences, centred on the exact difference: the replicates use
    # inverse-CDF percentiles and, for very large runs, a subset of requests, so their own centre can sit
    # a little off the exact (linear-interpolation) figure.
    diffs = replicates[("b", metric)][stat] - replicates[("a", metric)][stat]
    ci = _interval(diffs - float(np.median(diffs)) + delta, confidence)
    rel = _rel(delta, va)
    beyond = rel is not None and abs(rel) > tolerance
    significant, verdict = _verdict(delta, rel, ci, True, beyond)
    return MetricDelta(name, "ms", va, vb, delta, rel, ci[0], ci[1], True, significant, verdict)


def _throughput_delta(
    name: str,
    base: RunSample,
    cand: RunSample,
    tolerance: float,
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> MetricDelta:
    metric = metrics.get(name)
    unit, worse = metric.unit, metric.higher_is_worse
    a, b = base.per_second[name], cand.per_second[name]
    if a.size == 0 or b.size == 0:
        return _na(name, unit, worse, None, None)
    va, vb = float(a.mean()), float(b.mean())
    da = bootstrap_stats(a, np.arange(a.size), ("mean",), resamples=resamples, rng=rng)["mean"]
    db = bootstrap_stats(b, np.arange(b.size), ("mean",), resamples=resamples, rng=rng)["mean"]
    ci = _interval(db - da, confidence)
    delta = vb - va
    rel = _rel(delta, va)
    beyond = rel is not None and abs(rel) > tolerance
    significant, verdict = _verdict(delta, rel, ci, worse, beyond)
    return MetricDelta(name, unit, va, vb, delta, rel, ci[0], ci[1], worse, significant, verdict)


def _error_rate_delta(
    base: RunSample, cand: RunSample, error_tolerance: float, confidence: float
) -> MetricDelta:
    if base.requests == 0 or cand.requests == 0:
        return _na("error_rate", "fraction", True, None, None)
    pa, pb = base.failed / base.requests, cand.failed / cand.requests
    # Agresti-Caffo: add one failure and one success to each run before the Wald interval.
    ta, tb = (base.failed + 1) / (base.requests + 2), (cand.failed + 1) / (cand.requests + 2)
    se = math.sqrt(ta * (1 - ta) / (base.requests + 2) + tb * (1 - tb) / (cand.requests + 2))
    z = _z(confidence)
    centre = tb - ta
    ci = (centre - z * se, centre + z * se)
    delta = pb - pa
    beyond = abs(delta) > error_tolerance
    significant, verdict = _verdict(delta, None, ci, True, beyond)
    return MetricDelta(
        "error_rate", "fraction", pa, pb, delta, _rel(delta, pa), ci[0], ci[1], True, significant, verdict
    )


def _z(confidence: float) -> float:
    """Two-sided normal quantile for ``confidence`` (bisection on erf; no scipy)."""
    target = confidence
    lo, hi = 0.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if math.erf(mid / math.sqrt(2)) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _rel(delta: float, base: float) -> float | None:
    return delta / base if base else None


def select_metrics(wanted: Sequence[str]) -> tuple[str, ...]:
    """Expand ``--metric`` values: ``ttft_ms`` (its p50/p90/p99), ``ttft_ms.p95``, ``throughput_rps``..."""
    if not wanted:
        return DEFAULT_METRICS
    out: list[str] = []
    for item in (w.strip() for spec in wanted for w in spec.split(",")):
        if not item:
            continue
        if item in LATENCY:
            out += [f"{item}.{s}" for s in ("p50", "p90", "p99")]
        elif item in RATES:
            out.append(item)
        else:
            metric, dot, stat = item.partition(".")
            if metric in LATENCY and dot and stat in ("p50", "p90", "p95", "p99", "p99.9", "mean", "max"):
                out.append(item)
            else:
                choices = ", ".join([*LATENCY, *RATES])
                raise UsageError(
                    f"--metric {item!r}: unknown; choose from {choices} (latency may add .p95 etc.)"
                )
    return tuple(dict.fromkeys(out))


def compare_runs(baseline_dir: str | Path, candidate_dir: str | Path, **options: Any) -> Comparison:
    """``compare_samples`` of two results directories (``ResultsError`` when one is missing or empty)."""
    for path in (baseline_dir, candidate_dir):
        if not Path(path).is_dir():
            raise ResultsError(f"{path}: no such results directory")
    return compare_samples(load_sample(baseline_dir), load_sample(candidate_dir), **options)
