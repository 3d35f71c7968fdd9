"""bench.analysis.bottleneck: the "timing may be inflated" verdict from the load generator's monitor files."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench.analysis.bottleneck import CPU_LIMIT_PCT, assess


def write_monitor(run_dir: Path, worker: str, cpu: list[float], lag: list[float] | None = None) -> None:
    lag = lag or [0.3] * len(cpu)
    lines = [
        orjson.dumps({"t_s": 1_700_000_000.0 + i, "worker": worker, "cpu_pct": c, "loop_lag_ms": g})
        for i, (c, g) in enumerate(zip(cpu, lag, strict=True))
    ]
    (run_dir / "monitor").mkdir(parents=True, exist_ok=True)
    (run_dir / "monitor" / f"{worker}.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def test_light_run_is_not_inflated(tmp_path: Path) -> None:
    write_monitor(tmp_path, "local", [60.0, 40.0] + [12.0, 15.0, 11.0, 14.0] * 5)  # start-up burst skipped
    health = assess(tmp_path)
    assert not health.inflated
    assert health.level == "ok"
    assert health.message == "load generator kept up"
    assert health.cpu_sustained_pct is not None and health.cpu_sustained_pct < 20


def test_overloaded_run_is_marked_inflated_with_advice(tmp_path: Path) -> None:
    write_monitor(tmp_path, "local", [95.0, 98.0, 92.0, 97.0, 99.0, 96.0, 94.0, 98.0])
    health = assess(tmp_path)
    assert health.inflated and health.level == "inflated"
    assert health.message.startswith("timing may be inflated")
    assert "--processes" in health.message
    assert health.cpu_peak_pct == 99.0


def test_one_overloaded_worker_of_several_is_enough_and_named(tmp_path: Path) -> None:
    write_monitor(tmp_path, "w0", [20.0] * 12)
    write_monitor(tmp_path, "w1", [70.0] * 12)
    health = assess(tmp_path)
    assert health.inflated and health.workers == 2
    assert "(w1)" in health.message


def test_a_single_spike_does_not_condemn_the_run(tmp_path: Path) -> None:
    cpu = [15.0] * 20
    cpu[10] = CPU_LIMIT_PCT + 30  # a GC pass or a flush
    write_monitor(tmp_path, "local", cpu)
    health = assess(tmp_path)
    assert not health.inflated
    assert health.cpu_peak_pct == CPU_LIMIT_PCT + 30  # still reported


def test_loop_lag_alone_marks_inflated(tmp_path: Path) -> None:
    # Low own CPU but late wake-ups: another program is taking the core.
    write_monitor(tmp_path, "local", [10.0] * 12, lag=[0.4] * 6 + [25.0] * 6)
    health = assess(tmp_path)
    assert health.inflated
    assert "loop lag" in health.message


def test_between_caution_and_limit_warns_in_words_only(tmp_path: Path) -> None:
    write_monitor(tmp_path, "local", [40.0] * 12)
    health = assess(tmp_path)
    assert not health.inflated and health.level == "caution"
    assert "40% of a core" in health.message


def test_no_monitor_data_is_said_not_guessed(tmp_path: Path) -> None:
    health = assess(tmp_path)
    assert not health.inflated and health.samples == 0
    assert "no load-generator monitor data" in health.message


def test_one_long_stall_is_named_with_its_page_faults_without_condemning_the_run(tmp_path: Path) -> None:
    write_monitor(tmp_path, "local", [12.0] * 120, lag=[0.8] * 60 + [190.0] + [0.8] * 59)
    rows = (tmp_path / "monitor" / "local.jsonl").read_bytes().splitlines()
    stalled = orjson.loads(rows[60]) | {"majflt": 14}
    rows[60] = orjson.dumps(stalled)
    (tmp_path / "monitor" / "local.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    health = assess(tmp_path)
    assert not health.inflated  # one second of 120 does not move the run's p99
    assert health.loop_lag_max_ms == 190.0 and health.majflt == 14
    assert health.stall == (
        "load generator local stalled for 190 ms, with 14 major page faults that second: the requests in "
        "flight then carry up to that much timing error"
    )


def test_short_lags_name_no_stall(tmp_path: Path) -> None:
    write_monitor(tmp_path, "local", [12.0] * 12, lag=[0.8] * 11 + [30.0])
    assert assess(tmp_path).stall is None
