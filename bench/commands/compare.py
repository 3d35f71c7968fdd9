"""`chatbench compare BASELINE CANDIDATE`: metric-by-metric deltas of two runs, regressions flagged.

Exit codes: 0 no significant regression, 3 a significant regression beyond the tolerance, 4
inconclusive (a run's timing may be inflated by the load generator, or no metric could be judged), 2 the
runs could not be read or are of different workloads (without ``--force``). Writes ``compare.md``, ``compare.json`` and CDF overlays (``docs/ci.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import UsageError


def _fraction(text: str) -> float:
    """``5%`` or ``0.05`` -> 0.05."""
    raw = text.strip()
    try:
        value = float(raw.removesuffix("%")) / (100.0 if raw.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction (5% or 0.05)") from None
    if not 0.0 <= value < 10.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a fraction such as 5% or 0.05")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Two results directories and how strict the verdict is."""
    parser.add_argument("baseline", type=Path, help="results directory of the reference run")
    parser.add_argument("candidate", type=Path, help="results directory of the run to judge")
    parser.add_argument(
        "--tolerance",
        type=_fraction,
        default=0.05,
        metavar="PCT",
        help="relative change ignored even when significant (default 5%%)",
    )
    parser.add_argument(
        "--error-tolerance",
        type=_fraction,
        default=0.005,
        metavar="FRACTION",
        help="absolute error-rate rise ignored (default 0.005 = 0.5 percentage points)",
    )
    parser.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME",
        help="compare only these (repeatable): ttft_ms, ttft_ms.p95, tpot_ms, itl_ms, e2e_ms, "
        "throughput_rps, output_tokens_per_s, error_rate; default: all at p50/p90/p99",
    )
    parser.add_argument(
        "--confidence", type=float, default=0.99, help="confidence of each metric's interval (default 0.99)"
    )
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="compare runs whose requests, load model or load level differ (refused otherwise); "
        "the verdict says what differed",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to write compare.md/json and plots (default: compare-<baseline>-vs-<candidate> "
        "next to the candidate)",
    )


def run(args: argparse.Namespace) -> int:
    from bench.compare.runs import compare_samples, load_sample, select_metrics
    from bench.gates.exit_codes import EXIT_INCONCLUSIVE, EXIT_PASS, EXIT_SLO_BREACH
    from bench.report.compare_report import format_comparison, write_comparison

    if not 0.5 <= args.confidence < 1.0:
        raise UsageError(f"--confidence {args.confidence}: expected a value in [0.5, 1), such as 0.99")
    if not 100 <= args.resamples <= 100_000:
        raise UsageError(f"--resamples {args.resamples}: expected 100..100000 (2000 is plenty)")
    metrics = select_metrics(args.metric)
    baseline = load_sample(args.baseline)
    candidate = load_sample(args.candidate)
    comparison = compare_samples(
        baseline,
        candidate,
        metrics=metrics,
        tolerance=args.tolerance,
        error_tolerance=args.error_tolerance,
        confidence=args.confidence,
        resamples=args.resamples,
        seed=args.seed,
        force=args.force,
    )
    out = args.out or args.candidate.resolve().parent / (
        f"compare-{args.baseline.resolve().name}-vs-{args.candidate.resolve().name}"
    )
    paths = write_comparison(comparison, baseline, candidate, out)
    print(format_comparison(comparison))
    print(f"wrote {paths['markdown']} and {paths['json']}")
    return {"regression": EXIT_SLO_BREACH, "inconclusive": EXIT_INCONCLUSIVE}.get(
        comparison.verdict, EXIT_PASS
    )
