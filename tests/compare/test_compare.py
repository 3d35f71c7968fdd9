"""compare: same distribution is not flagged, a real slowdown is; outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.compare.runs import bootstrap_stats, compare_runs, select_metrics
from bench.errors import UsageError
from tests.gates.synth import drawn, record, write_run


def test_same_distribution_different_seeds_is_not_a_regression(tmp_path: Path) -> None:
    for seed in range(3):
        base = write_run(tmp_path / f"a{seed}", drawn(400, seed=100 + seed))
        cand = write_run(tmp_path / f"b{seed}", drawn(400, seed=200 + seed))
        result = compare_runs(base, cand, resamples=500)
        assert result.regressions == (), [d for d in result.deltas if d.verdict != "no change"]


def test_slower_tokens_are_a_regression(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", drawn(400, seed=1, tpot_mean_ms=12.0))
    cand = write_run(tmp_path / "cand", drawn(400, seed=2, tpot_mean_ms=15.0))  # 25 % slower decoding
    result = compare_runs(base, cand, resamples=500)
    flagged = {d.metric for d in result.regressions}
    assert {"tpot_ms.p50", "tpot_ms.p90", "e2e_ms.p50"} <= flagged
    assert not any(m.startswith("ttft_ms") for m in flagged)  # TTFT did not change
    tpot = next(d for d in result.deltas if d.metric == "tpot_ms.p50")
    assert tpot.relative == pytest.approx(0.25, abs=0.05)
    assert tpot.ci_low is not None and tpot.ci_low > 0


def test_a_small_significant_change_within_tolerance_passes(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", drawn(2000, seed=1, tpot_mean_ms=12.0))
    cand = write_run(tmp_path / "cand", drawn(2000, seed=2, tpot_mean_ms=12.3))  # +2.5 %
    result = compare_runs(base, cand, metrics=("tpot_ms.p50",))
    (tpot,) = result.deltas
    assert tpot.significant and tpot.verdict == "no change"
    assert compare_runs(base, cand, metrics=("tpot_ms.p50",), tolerance=0.01).regressions


def test_error_rate_rise_is_flagged(tmp_path: Path) -> None:
    ok = drawn(300, seed=1)
    base = write_run(tmp_path / "base", ok)
    # Every tenth request fails, spread over the whole run.
    failing = [
        record(i, error_kind="http_error", started_at_s=i * 0.05) if i % 10 == 0 else r
        for i, r in enumerate(ok)
    ]
    cand = write_run(tmp_path / "cand", failing)
    result = compare_runs(base, cand, metrics=("error_rate",))
    assert result.deltas[0].verdict == "regression" and result.deltas[0].candidate == pytest.approx(0.1)
    assert compare_runs(base, base, metrics=("error_rate",)).deltas[0].verdict == "no change"


def test_bootstrap_interval_has_the_textbook_width() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(100, 10, 3000), rng.normal(110, 10, 3000)
    ra = bootstrap_stats(a, np.arange(a.size), ("p50", "mean"), resamples=1000, rng=np.random.default_rng(1))
    rb = bootstrap_stats(b, np.arange(b.size), ("p50", "mean"), resamples=1000, rng=np.random.default_rng(2))
    lo, hi = np.percentile(rb["mean"] - ra["mean"], [2.5, 97.5])
    # Standard error of a difference of means: sqrt(2 * 10^2 / 3000) = 0.258; the 95 % interval is 1.01 wide.
    assert lo < b.mean() - a.mean() < hi and 0.8 < hi - lo < 1.25
    lo, hi = np.percentile(rb["p50"] - ra["p50"], [2.5, 97.5])
    # The median's standard error is sqrt(pi / 2) = 1.25 times the mean's.
    assert lo < np.median(b) - np.median(a) < hi and 1.0 < hi - lo < 1.7


def test_itl_bootstrap_resamples_whole_requests() -> None:
    # 20 requests of 50 identical gaps each: the gaps of one request are one draw, not 50 independent ones.
    rng = np.random.default_rng(3)
    per_request = rng.normal(12, 2, 20)
    values = np.repeat(per_request, 50)
    owners = np.repeat(np.arange(20), 50)
    cluster = bootstrap_stats(values, owners, ("p50",), resamples=400, rng=np.random.default_rng(4))["p50"]
    naive = bootstrap_stats(
        values, np.arange(values.size), ("p50",), resamples=400, rng=np.random.default_rng(4)
    )["p50"]
    assert cluster.std() > 3 * naive.std()


def test_metric_selection() -> None:
    assert select_metrics(["ttft_ms", "e2e_ms.p95,error_rate"]) == (
        "ttft_ms.p50",
        "ttft_ms.p90",
        "ttft_ms.p99",
        "e2e_ms.p95",
        "error_rate",
    )
    with pytest.raises(UsageError, match="unknown"):
        select_metrics(["latency"])


def test_cli_writes_outputs_and_exits_3_on_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_run(tmp_path / "results" / "base", drawn(300, seed=1, tpot_mean_ms=12.0))
    cand = write_run(tmp_path / "results" / "cand", drawn(300, seed=2, tpot_mean_ms=16.0))
    assert main(["compare", str(base), str(cand), "--tolerance", "5%"]) == 3
    out_dir = tmp_path / "results" / "compare-base-vs-cand"
    report = json.loads((out_dir / "compare.json").read_text())
    assert report["regressed"] and "tpot_ms.p50" in report["regressions"]
    assert "**REGRESSION: " in (out_dir / "compare.md").read_text()
    assert (out_dir / "compare.html").is_file()
    assert {p.name for p in out_dir.glob("cdf_*.png")} == {
        "cdf_ttft_ms.png",
        "cdf_tpot_ms.png",
        "cdf_itl_ms.png",
        "cdf_e2e_ms.png",
    }
    assert "REGRESSED" in capsys.readouterr().out
    assert main(["compare", str(base), str(base), "--out", str(tmp_path / "same")]) == 0


def test_cli_missing_dir_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path / "base", drawn(20, seed=1))
    assert main(["compare", str(base), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such results directory" in err


def _with_load(run: Path, **load: object) -> Path:
    """Give a synthetic run a scenario.json load block (users, stages...)."""
    scenario = json.loads((run / "scenario.json").read_text())
    users = load.pop("users", 4)
    stage = {"duration_s": 10, "users": users, "spawn_rate": 100, "rate_rps": load.pop("rate_rps", None)}
    scenario["load"] = {"stages": [stage], "arrival": load.pop("arrival", None), **load}
    (run / "scenario.json").write_text(json.dumps(scenario))
    return run


def test_a_run_whose_timing_may_be_inflated_is_inconclusive_never_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.truth.test_bottleneck import write_monitor

    base = write_run(tmp_path / "base", drawn(300, seed=1, tpot_mean_ms=12.0))
    cand = write_run(tmp_path / "cand", drawn(300, seed=2, tpot_mean_ms=16.0))  # slower for real
    write_monitor(cand, "local", [20.0] * 3 + [30.0] * 10, lag=[0.3] * 3 + [12.0] * 10)  # lag p99 12 ms
    result = compare_runs(base, cand, resamples=500)
    assert result.verdict == "inconclusive"
    assert "timing may be inflated" in result.inconclusive_because[0]
    assert result.regressions  # shown, but not claimed
    assert main(["compare", str(base), str(cand), "--out", str(tmp_path / "out")]) == 4
    out = capsys.readouterr().out
    assert out.startswith("compare: INCONCLUSIVE") and "REGRESSED" not in out
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert report["verdict"] == "inconclusive" and not report["regressed"]


def test_nothing_judged_is_inconclusive_not_green(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path / "base", drawn(40, seed=1))
    cand = write_run(tmp_path / "cand", drawn(40, seed=2))
    result = compare_runs(base, cand, metrics=("ttft_ms.p95",))  # p95 needs 100 values
    assert result.verdict == "inconclusive" and [d.metric for d in result.not_judged] == ["ttft_ms.p95"]
    assert (
        main(["compare", str(base), str(cand), "--metric", "ttft_ms.p95", "--out", str(tmp_path / "o")]) == 4
    )
    out = capsys.readouterr().out
    assert "none of the requested metrics could be judged" in out and "not judged:" in out
    # Some judged, some not: a verdict on those judged, the others listed apart.
    mixed = compare_runs(base, cand, metrics=("ttft_ms.p50", "ttft_ms.p95"), resamples=300)
    assert mixed.verdict == "no significant regression" and [d.metric for d in mixed.not_judged] == [
        "ttft_ms.p95"
    ]


@pytest.mark.parametrize(
    ("candidate_load", "why"),
    [
        ({"users": 12}, "the load level differs (baseline 4 users, candidate 12 users)"),
        ({"users": 1, "rate_rps": 5.0, "arrival": {"rate_rps": 5.0}}, "the load model differs"),
        ({"users": 4, "think_time_s": 1.0}, "the load level differs"),
    ],
)
def test_runs_of_different_workloads_are_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], candidate_load: dict, why: str
) -> None:
    base = _with_load(write_run(tmp_path / "base", drawn(300, seed=1)), users=4)
    cand = _with_load(write_run(tmp_path / "cand", drawn(300, seed=2)), **candidate_load)
    with pytest.raises(UsageError, match="--force"):
        compare_runs(base, cand)
    assert main(["compare", str(base), str(cand), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1
    forced = compare_runs(base, cand, force=True, resamples=300)
    assert forced.forced and why in forced.forced[0]
    assert main(["compare", str(base), str(cand), "--force", "--out", str(tmp_path / "o")]) in (0, 3)
    assert "WARNING: compared with --force although" in capsys.readouterr().out


def test_other_requests_are_refused_and_a_name_alone_is_not(tmp_path: Path) -> None:
    base = _with_load(write_run(tmp_path / "base", drawn(300, seed=1), name="a"), users=4)
    cand = _with_load(write_run(tmp_path / "cand", drawn(300, seed=2), name="b"), users=4)
    result = compare_runs(base, cand, resamples=300)
    assert any("named differently" in n for n in result.notes)
    scenario = json.loads((cand / "scenario.json").read_text())
    scenario["sampling"] = {"temperature": 1.0}
    (cand / "scenario.json").write_text(json.dumps(scenario))
    with pytest.raises(UsageError, match="the requests differ"):
        compare_runs(base, cand)
