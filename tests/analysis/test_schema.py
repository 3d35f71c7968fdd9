"""The typed summary (``bench.analysis.schema``) writes exactly the summary.json the analysis computed.

The analysis computes its figures JSON-shaped and reads them into ``Summary`` once (``Summary.from_json``);
``Summary.to_json()`` must give that same dict back, key order included, so summary.json keeps its schema
byte for byte. ``from_json`` of a summary.json on disk gives the same summary back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.analysis import summary as summary_module
from bench.analysis.schema import Summary
from bench.load.runner import run_load
from bench.report import build_report, headline_table
from tests.analysis.factory import T0, make_error, make_record, write_run
from tests.load.helpers import write_scenario


def _dump(d: dict[str, Any]) -> bytes:
    return orjson.dumps(d, option=orjson.OPT_INDENT_2) + b"\n"


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every JSON-shaped summary the analysis hands to ``Summary.from_json``, as it computed it."""
    seen: list[dict[str, Any]] = []
    real = Summary.from_json

    def spy(d: dict[str, Any]) -> Summary:
        seen.append(orjson.loads(orjson.dumps(d)))
        return real(d)

    monkeypatch.setattr(summary_module.Summary, "from_json", staticmethod(spy))
    return seen


def _varied_run(tmp_path: Path) -> Path:
    """Breakdowns, failures with messages, an outage, throttling, client lag, monitor data, a lost worker."""
    records = [
        make_record(
            i,
            at_s=i * 0.05,
            ttft_ms=80.0 + i % 11,
            temperature=(0.2, 1.0)[i % 2],
            stream=i % 3 != 0,
            prompt_set=("a", "b")[i % 2],
            client_lag_ms=1.0 + i % 5,
            attempts=2 if i % 17 == 0 else 1,
        )
        for i in range(300)
    ]
    records += [make_error(900 + i, at_s=3.0 + i * 0.1, error_message="boom") for i in range(6)]
    records += [make_error(950 + i, at_s=16.0 + i * 0.1, kind="connect_error", status=0) for i in range(30)]
    records += [make_error(990, at_s=2.0, status=429)]
    monitor = [{"t_s": float(t), "cpu_pct": 40.0 + t, "loop_lag_ms": 0.5} for t in range(12)]
    lost = {"worker": "w2", "lost_at_s": T0 + 10, "last_batch_at_s": T0 + 9.5, "records": 12}
    return write_run(
        tmp_path / "run",
        records,
        scenario={"name": "varied", "slo": {"ttft_ms": {"p95": 90}, "e2e_ms": 5000, "error_rate": 0.01}},
        run_info={"run_id": "varied-1", "target_url": "http://127.0.0.1:1", "lost_workers": [lost]},
        monitor=monitor,
    )


def _check(run: Path, computed: list[dict[str, Any]]) -> None:
    result = build_report(run)
    on_disk = (run / "summary.json").read_bytes()
    (analysis_json,) = computed
    written = orjson.loads(on_disk)
    report_keys = ("verdict", "server_metrics", "files")
    assert {k: v for k, v in written.items() if k not in report_keys} == analysis_json
    assert list(written)[: len(analysis_json)] == list(analysis_json)  # the same keys in the same order
    assert _dump(result.summary.to_json()) == on_disk
    back = Summary.from_json(written)
    assert back == result.summary
    assert _dump(back.to_json()) == on_disk
    assert headline_table(back) == headline_table(result.summary)


def test_to_json_is_the_computed_summary_for_varied_records(tmp_path: Path, computed: list) -> None:
    run = _varied_run(tmp_path)
    _check(run, computed)
    summary = Summary.from_json(orjson.loads((run / "summary.json").read_bytes()))
    assert set(summary.breakdowns) >= {"prompt_set", "stream", "temperature"}
    assert summary.outages and summary.outages[0].unreachable
    assert summary.steady.latency_ms["ttft_ms"].count > 0
    assert summary.loadgen is not None and summary.loadgen.samples == 10  # the first 2 s are skipped
    assert summary.run.lost_workers[0]["worker"] == "w2"
    assert summary.whole_run.throttled == 1 and summary.whole_run.resent > 0


@pytest.mark.parametrize(
    "records",
    [[], [make_record(0)], [make_error(i, at_s=i * 0.1) for i in range(4)]],
    ids=["zero-records", "one-request", "only-errors"],
)
def test_to_json_is_the_computed_summary_for_degenerate_runs(
    tmp_path: Path, computed: list, records: list
) -> None:
    _check(write_run(tmp_path / "run", records), computed)


@pytest.mark.slow
def test_to_json_is_the_computed_summary_for_a_real_run(tmp_path: Path, computed: list) -> None:
    scenario = write_scenario(
        tmp_path,
        mock={"fault_http_500": 0.1, "fault_reset_mid_stream": 0.1, "tpot_ms": 5, "output_tokens": 20},
        load={"users": 3, "spawn_rate": 100, "duration_s": 3},
    )
    outcome = run_load(scenario, results_dir=tmp_path / "results", progress=False)
    computed.clear()
    _check(outcome.run_dir, computed)
    assert orjson.loads((outcome.run_dir / "summary.json").read_bytes())["server_metrics"]
