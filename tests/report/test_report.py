"""The report files of a results directory: what a person reads and what a machine parses."""

from __future__ import annotations

import json
import re

import pytest

from bench import metrics
from bench.analysis.schema import Summary
from bench.cli import main
from bench.report import build_report, headline_table
from bench.report.plots import PLOTS
from tests.analysis.factory import make_error, make_record, write_run

PAYLOAD = "<script>alert('x')</script>"


def _strict_json(path):
    def refuse(name):
        raise AssertionError(f"{name} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _visible_text(html: str) -> str:
    """The page without its inline images (base64 can spell anything) and its stylesheet (``display: none``)."""
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.DOTALL)
    return re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', html)


def _normal_run(tmp_path, **kw):
    records = [
        make_record(
            i, at_s=i * 0.05, ttft_ms=100.0 + i % 7, temperature=(0.2, 1.0)[i % 2], prompt_tokens=10 + i
        )
        for i in range(200)
    ]
    records += [make_error(900 + i, at_s=i * 0.5) for i in range(5)]
    scenario = {"name": "demo", "slo": {"ttft_ms": {"p95": 105}, "error_rate": 0.01}}
    return write_run(tmp_path / "run", records, scenario=scenario, **kw)


def test_report_writes_every_file_with_stable_keys(tmp_path):
    run = _normal_run(tmp_path, parquet=True)
    result = build_report(run)
    for name in ("summary.json", "summary.md", "report.html", *PLOTS):
        assert result.paths[name].is_file(), name
        assert result.paths[name].parent == run
    summary = _strict_json(run / "summary.json")
    assert summary["schema_version"] == 3  # 3: latency_ms keyed by the metric names (docs/report.md)
    assert set(summary["steady"]["latency_ms"]) <= set(metrics.names(kind="latency"))
    assert {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"} <= set(summary["steady"]["latency_ms"])
    for key in ("run", "window", "steady", "whole_run", "breakdowns", "slo", "loadgen", "warnings", "notes"):
        assert key in summary
    assert summary["whole_run"]["requests"] == 205
    assert summary["whole_run"]["failed"] == 5
    assert summary["whole_run"]["goodput"]["limits_ms"] == {"ttft_ms": 105.0}
    assert summary["files"]["report.html"] == "report.html"
    assert list(summary["breakdowns"]) == ["temperature"]
    assert summary == json.loads(json.dumps(result.summary.to_json()))


def test_html_is_self_contained_with_one_inline_png_per_plot(tmp_path):
    html = build_report(_normal_run(tmp_path)).html_path.read_text()
    images = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert len(images) == len(PLOTS)
    assert all(src.startswith("data:image/png;base64,iVBOR") for src in images)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html


def test_markdown_has_tables_and_the_failed_count_beside_percentiles(tmp_path):
    md = build_report(_normal_run(tmp_path)).paths["summary.md"].read_text()
    assert "| metric | unit | count | p50 | p90 | p95 | p99 | p99.9 | mean | max |" in md
    assert re.search(r"\| TTFT \| ms \| [\d,]+ \| 1\d\d\.\d \|", md)
    assert "| TPOT | ms/token |" in md
    assert "failed" in md
    assert re.search(r"!\[Latency CDFs[^]]*\]\(latency_cdf.png\)", md)


def test_text_from_the_server_and_the_scenario_is_escaped(tmp_path):
    records = [make_record(i, at_s=i * 0.1, prompt_set=PAYLOAD, scenario=PAYLOAD) for i in range(20)]
    records += [make_error(50, error_message=PAYLOAD), make_record(51, prompt_set="b", scenario="s2")]
    run = write_run(tmp_path / "run", records, scenario={"name": PAYLOAD, "slo": {}})
    result = build_report(run)
    for name in ("report.html", "summary.md"):
        text = result.paths[name].read_text()
        assert PAYLOAD not in text, name
        assert "&lt;script&gt;" in text, name
    assert result.summary.breakdowns["prompt_set"][0].value in (
        PAYLOAD,
        "b",
    )  # raw in JSON, that is data


@pytest.mark.parametrize(
    ("records", "says"),
    [
        ([], "no records"),
        ([make_record(0)], "only one request"),
        ([make_error(i, at_s=i * 0.1) for i in range(6)], "no request succeeded"),
        (
            [make_error(0, kind="connect_error", status=0), make_error(1, kind="cancelled", status=0)],
            "no request succeeded",
        ),
        ([make_record(i, stream=False, at_s=i * 0.1) for i in range(5)], "no successful streamed request"),
    ],
    ids=["zero-records", "one-request", "only-errors", "no-success-no-status", "non-streamed-only"],
)
def test_degenerate_runs_produce_a_report_that_says_what_happened(tmp_path, records, says):
    run = write_run(tmp_path / "run", records)
    result = build_report(run)
    summary = _strict_json(run / "summary.json")
    assert any(says in note for note in summary["notes"])
    for name in ("report.html", "summary.md"):
        text = _visible_text(result.paths[name].read_text())
        assert says in text
        assert not re.search(r"\bnan\b|\bNone\b|\binf\b", text, re.IGNORECASE), name
    table = headline_table(Summary.from_json(summary))
    assert not re.search(r"\bnan\b|\bNone\b", table, re.IGNORECASE)
    for name in PLOTS:
        assert result.paths[name].stat().st_size > 1000


def test_inflated_timing_is_a_visible_warning_everywhere(tmp_path):
    monitor = [{"t_s": float(t), "cpu_pct": 95.0, "loop_lag_ms": 1.0} for t in range(10)]
    result = build_report(_normal_run(tmp_path, monitor=monitor))
    assert result.summary.loadgen is not None and result.summary.loadgen.inflated is True
    assert result.summary.warnings and "inflated" in result.summary.warnings[0]
    assert "WARNING: timing may be inflated" in result.paths["summary.md"].read_text()
    assert 'class="warning"' in result.html_path.read_text()
    assert "WARNING: timing may be inflated" in headline_table(result.summary)


def test_headline_table(tmp_path):
    result = build_report(_normal_run(tmp_path))
    table = headline_table(result.summary, html_path=result.html_path)
    lines = table.splitlines()
    assert lines[0].startswith("chatbench: demo")
    assert re.search(r"requests\s+\d+\s+failed \d+", table)
    assert "req/s (successful)" in table and "output tok/s" in table
    assert re.match(
        r"\s+TTFT\s+1\d\d\.\d\s+1\d\d\.\d\s+1\d\d\.\d  ms$", next(line for line in lines if "TTFT" in line)
    )
    assert "goodput" in table and "met every SLO threshold" in table
    assert lines[-1].endswith("report.html")


def test_cli_report_prints_the_table_and_the_html_path(tmp_path, capsys):
    run = _normal_run(tmp_path)
    assert main(["report", str(run), "--window", "2:8"]) == 0
    out = capsys.readouterr().out
    assert "steady window 2–8 s" in out
    assert str(run / "report.html") in out
    assert _strict_json(run / "summary.json")["window"]["source"] == "manual"


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_cli_report_on_a_missing_or_empty_directory_is_one_line(tmp_path, capsys, make):
    target = tmp_path / "run"
    if make == "empty":
        target.mkdir()
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chatbench: error:") and err.count("\n") == 1


def test_cli_report_bad_window_is_a_usage_error(tmp_path, capsys):
    assert main(["report", str(_normal_run(tmp_path)), "--window", "9:3"]) == 2
    assert "--window" in capsys.readouterr().err


def test_building_a_report_imports_neither_locust_nor_gevent(tmp_path):
    import subprocess
    import sys

    run = write_run(tmp_path / "run", [make_record(i, at_s=i * 0.1) for i in range(5)])
    code = (
        "import sys; from bench.report import build_report; build_report(sys.argv[1]);"
        "print(','.join(m for m in ('locust', 'gevent') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _judged(run, window="steady"):
    from bench.gates.overrides import slo_from_dict
    from bench.gates.slo import evaluate_slos

    slo = json.loads((run / "scenario.json").read_text())["slo"]
    return evaluate_slos(run, slo_from_dict(slo), window=window)


def test_report_reads_in_order_verdict_setup_headline_plots_tables(tmp_path):
    run = _normal_run(tmp_path)
    verdict = _judged(run)
    result = build_report(run, verdict=verdict)
    md = result.paths["summary.md"].read_text()
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == ["## Verdict", "## Setup", "## Headline figures", "## Plots", "## Tables"]
    html = _visible_text(result.html_path.read_text())
    order = [
        html.index(f'<section id="{key}">') for key in ("verdict", "setup", "headline", "plots", "tables")
    ]
    assert order == sorted(order)
    assert html.index('<table class="data">') > order[-1]  # no data table before the Tables section


def test_the_verdict_is_the_gates_own_with_measured_against_limit(tmp_path):
    run = _normal_run(tmp_path)
    (run / "scenario.json").write_text(
        json.dumps({"name": "demo", "slo": {"ttft_ms": {"p95": 200}, "error_rate": 0.01}})
    )
    verdict = _judged(run)
    assert not verdict.passed  # 5 failures of 205 breach error_rate <= 1 %; TTFT p95 106 ms passes
    result = build_report(run, verdict=verdict)
    assert result.summary.verdict == json.loads(json.dumps(verdict.to_dict()))
    md = result.paths["summary.md"].read_text()
    verdict_part = md[md.index("## Verdict") : md.index("## Setup")]
    assert "FAIL: 1 of 2 SLOs breached" in verdict_part
    rate = next(c for c in verdict.checks if c.name == "error_rate")
    assert f"| error_rate | {rate.measured * 100:.2f} % (n = {rate.samples}) | 1.00 % |" in verdict_part
    assert "| FAIL |" in verdict_part and "| PASS |" in verdict_part
    html = result.html_path.read_text()
    assert 'class="verdict fail"' in html
    # Without a verdict the page says so rather than inventing one.
    plain = build_report(run).paths["summary.md"].read_text()
    assert "No SLO verdict" in plain


def test_setup_names_target_model_load_window_and_versions(tmp_path):
    scenario = {
        "name": "demo",
        "description": "two users",
        "target": {"base_url": None, "path": "/v1/chat/completions", "model": "m1", "profile": "seed"},
        "load": {
            "users": 2,
            "spawn_rate": 1.0,
            "duration_s": 10,
            "think_time_s": 0.5,
            "stages": [{"duration_s": 10, "users": 2, "spawn_rate": 1.0}],
        },
        "sampling": {"temperature": {"choice": [0.2, 1.0]}, "stream": {"ratio": 0.5}},
        "slo": {},
    }
    info = {
        "run_id": "demo-1",
        "started_at_s": 1_700_000_000.0,
        "target_url": "http://127.0.0.1:1234",
        "versions": {"chatbench": "0.1.0", "locust": "2.47.0", "python": "3.11.7"},
    }
    records = [make_record(i, at_s=i * 0.05) for i in range(200)]
    run = write_run(tmp_path / "run", records, scenario=scenario, run_info=info)
    md = build_report(run).paths["summary.md"].read_text()
    setup = md[md.index("## Setup") : md.index("## Headline")]
    for text in (
        "http://127.0.0.1:1234/v1/chat/completions (the embedded mock, started for this run)",
        "**model**: m1",
        "seed (only the seven documented body keys are sent)",
        "closed loop: 2 users",
        "temperature one of 0.2, 1",
        "stream in 50 % of requests",
        "chatbench 0.1.0, locust 2.47.0, python 3.11.7",
        "**run id**: demo-1",
        "from the run's schedule of offered load (offered load after the 2.0 s spawn ramp",
        "requests that ended inside it",
    ):
        assert text in setup, text


def test_cli_report_shows_the_gates_verdict(tmp_path, capsys):
    run = _normal_run(tmp_path)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "building report..." in out
    summary = _strict_json(run / "summary.json")
    assert summary["verdict"]["passed"] is False
    assert summary["verdict"] == json.loads(json.dumps(_judged(run).to_dict()))


def test_headline_lists_the_commonest_failures_with_the_servers_own_message(tmp_path):
    said = "HTTP 404: The model 'nope'\n does not exist"
    records = [make_error(i, at_s=i * 0.1, status=404, error_message=said) for i in range(30)]
    records += [make_error(100 + i, at_s=i * 0.1, kind="connect_error", status=0) for i in range(3)]
    summary = build_report(write_run(tmp_path / "run", records)).summary
    lines = headline_table(summary).splitlines()
    errors = [line.split() for line in lines if line.strip().startswith("error ")]
    assert [e[:3] for e in errors] == [["error", "30", "x"], ["error", "3", "x"]]
    assert any("http_error 404: HTTP 404: The model 'nope' does not exist" in line for line in lines)
