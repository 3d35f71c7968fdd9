"""How often does `chatbench compare` cry wolf, and does it still see a real slowdown?

Runs N pairs of identical quickstart runs (same scenario, same seed, same embedded mock) and compares each
pair: a REGRESSION there is a false alarm. Then one run against a mock whose TPOT is made `--slower`
(20 % by default) is compared with the first baseline: TPOT must be flagged. Each run's busy cores (the
whole machine, chatbench included) and its load-generator health are printed beside the verdicts, since
on a shared machine a noisy neighbour, not chatbench, can be what moved a p99.

    .venv/bin/python benchmarks/compare_false_alarm.py                 # 10 pairs of 20 s runs (~10 min)
    .venv/bin/python benchmarks/compare_false_alarm.py --pairs 3 --duration 8

`false_alarm_check` is the same check as a function (the tests run a small version of it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


@dataclass
class Pair:
    label: str
    verdict: str  # regression | no significant regression | inconclusive
    regressions: list[str]
    inconclusive_because: list[str]
    judged: int
    busy_cores: list[float] = field(default_factory=list)  # per run
    changes: dict[str, float] = field(default_factory=dict)  # metric -> relative change of the regressions


@dataclass
class Result:
    identical: list[Pair]
    slower: Pair
    slower_by: float

    @property
    def false_alarms(self) -> int:
        return sum(p.verdict == "regression" for p in self.identical)

    @property
    def slowdown_flagged(self) -> bool:
        """The slower mock's TPOT was found to regress (even when the verdict was held back as inconclusive)."""
        return any(m.startswith("tpot_ms") for m in self.slower.regressions)


def _scenario_copy(out: Path, name: str, mock: dict[str, Any], duration_s: float | None) -> Path:
    """The quickstart scenario with ``mock`` settings on top, its prompt files by absolute path."""
    data = yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))
    data["name"] = "quickstart"  # one workload: the copies differ only in the mock
    data["mock"] = {**(data.get("mock") or {}), **mock}
    for prompt_set in data["prompt_sets"]:
        if "jsonl" in prompt_set:
            prompt_set["jsonl"] = str((QUICKSTART.parent / prompt_set["jsonl"]).resolve())
    if duration_s is not None:
        data["load"]["duration_s"] = duration_s
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _run(scenario: Path, out: Path, run_id: str) -> tuple[Path, float]:
    """One run; returns its directory and the machine's busy cores during it."""
    from bench.instrument.cpu import busy_cpu_s
    from bench.load.runner import run_load

    busy0, t0 = busy_cpu_s(), time.monotonic()
    outcome = run_load(scenario, {}, results_dir=out, run_id=run_id, progress=False)
    busy = (busy_cpu_s() - busy0) / max(time.monotonic() - t0, 1e-9)
    return outcome.run_dir, busy


def _pair(label: str, base: tuple[Path, float], cand: tuple[Path, float], **options: Any) -> Pair:
    from bench.compare.runs import compare_runs

    result = compare_runs(base[0], cand[0], **options)
    return Pair(
        label=label,
        verdict=result.verdict,
        regressions=[d.metric for d in result.regressions],
        inconclusive_because=list(result.inconclusive_because),
        judged=len(result.judged),
        busy_cores=[base[1], cand[1]],
        changes={d.metric: d.relative for d in result.regressions if d.relative is not None},
    )


def false_alarm_check(
    pairs: int = 10,
    *,
    duration_s: float | None = None,
    slower: float = 0.2,
    out: Path | None = None,
    progress: bool = True,
    **compare_options: Any,
) -> Result:
    """``pairs`` identical quickstart pairs and one ``slower``-TPOT candidate, each compared (see the
    module docstring). ``compare_options`` go to ``compare_runs`` (tolerance, confidence...)."""
    from bench.mock.settings import MockSettings

    with tempfile.TemporaryDirectory(prefix="compare-false-alarm-") as tmp:
        work = out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        same = _scenario_copy(work, "same", {}, duration_s)
        tpot = MockSettings.from_mapping(yaml.safe_load(QUICKSTART.read_text())["mock"] or {}).tpot_ms
        slow = _scenario_copy(work, "slow", {"tpot_ms": tpot * (1 + slower)}, duration_s)
        identical = []
        first: tuple[Path, float] | None = None
        for i in range(pairs):
            base = _run(same, work / "runs", f"pair{i}-a")
            cand = _run(same, work / "runs", f"pair{i}-b")
            first = first or base
            identical.append(_pair(f"identical pair {i + 1}", base, cand, **compare_options))
            if progress:
                _print_pair(identical[-1])
        if first is None:
            first = _run(same, work / "runs", "base")
        slow_run = _run(slow, work / "runs", "slower")
        slower_pair = _pair(
            f"TPOT {slower:+.0%} ({tpot:g} -> {tpot * (1 + slower):g} ms)", first, slow_run, **compare_options
        )
        if progress:
            _print_pair(slower_pair)
        return Result(identical, slower_pair, slower)


def _print_pair(p: Pair) -> None:
    busy = ", ".join(f"{b:.2f}" for b in p.busy_cores)
    detail = ""
    if p.regressions:
        detail = " | worse: " + ", ".join(
            f"{m} {p.changes[m]:+.1%}" if m in p.changes else m for m in p.regressions
        )
    if p.inconclusive_because:
        detail += " | inconclusive: " + "; ".join(p.inconclusive_because)
    print(f"{p.label:<40} {p.verdict:<26} judged {p.judged:>2} | busy cores {busy}{detail}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10, help="identical pairs (default 10)")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per run (default: the scenario's 20)"
    )
    parser.add_argument(
        "--slower", type=float, default=0.2, help="TPOT slowdown of the last run (default 0.2)"
    )
    parser.add_argument("--tolerance", type=float, default=0.05, help="compare --tolerance (default 0.05)")
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the runs here (default: a temporary directory)"
    )
    args = parser.parse_args()
    print(
        f"compare false-alarm check: {args.pairs} identical quickstart pairs, then TPOT {args.slower:+.0%}; "
        f"tolerance {args.tolerance:.0%}, 99 % intervals",
        flush=True,
    )
    result = false_alarm_check(
        args.pairs, duration_s=args.duration, slower=args.slower, out=args.out, tolerance=args.tolerance
    )
    inconclusive = sum(p.verdict == "inconclusive" for p in result.identical)
    print(
        f"identical pairs: {result.false_alarms} REGRESSION, {inconclusive} inconclusive, "
        f"{len(result.identical) - result.false_alarms - inconclusive} no significant regression "
        f"(of {len(result.identical)})"
    )
    print(f"slower mock: {result.slower.verdict}; TPOT flagged: {'yes' if result.slowdown_flagged else 'NO'}")
    return 0 if result.false_alarms == 0 and result.slowdown_flagged else 1


if __name__ == "__main__":
    sys.exit(main())
