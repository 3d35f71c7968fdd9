"""The dashboard as a user meets it: `chatbench ui` in a real headless Chromium against the mock.

Opens the dashboard, starts a test from Locust's own form, watches the LLM tab's numbers appear and
change and the live charts draw, stops the test, follows the bar's link to the test's report.html and
checks its plots decoded; then Ctrl-C prints each test's verdict and exits with the last one's code.
The live percentiles the tab showed are checked against the test's summary.json within the sketch's
stated error. Skipped without chromium, except in CI where it must be there.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bench.live.sketch import RELATIVE_ACCURACY
from tests.conftest import IN_CI
from tests.live.browser import Browser, find_chromium
from tests.load.helpers import free_port

ROW_CELL = """(() => {
  const rows = [...document.querySelectorAll('table tbody tr')];
  const row = rows.find(r => r.cells[0] && r.cells[0].textContent.trim() === %s
                             && r.cells[1].textContent.trim() === %s);
  return row ? row.cells[%d].textContent.trim() : null;
})()"""


STATS_LANDED = "performance.getEntriesByType('resource').some(e => e.name.includes('/stats/requests') && e.responseEnd > 0)"


IN_FLIGHT_ADDS_UP = """(() => {
  const row = [...document.querySelectorAll('table tbody tr')]
    .find(r => r.cells[0] && r.cells[0].textContent.trim() === 'in flight');
  if (!row) return null;
  const [all, zh, en, stream, plain] = [...row.cells].slice(2).map(c => Number(c.textContent.replace(/,/g, '')));
  return all > 0 && zh + en === all && stream + plain === all ? [all, zh, en, stream, plain] : null;
})()"""


def cell(browser: Browser, figure: str, span: str, column: int = 2) -> str | None:
    return browser.evaluate(ROW_CELL % (json.dumps(figure), json.dumps(span), column))


def click(browser: Browser, selector: str, text: str, timeout_s: float = 60) -> None:
    script = f"""(() => {{
      const el = [...document.querySelectorAll({json.dumps(selector)})]
        .find(e => e.textContent.trim().includes({json.dumps(text)}));
      if (!el || el.disabled) return false;  // Locust enables Start once it has heard of the workers
      el.click();
      return true;
    }})()"""
    try:
        browser.wait_for(script, timeout_s)
    except TimeoutError:
        seen = browser.evaluate(
            f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent.trim() + (e.disabled ? ' (disabled)' : ''))"
        )
        page = browser.evaluate("document.body.innerText.slice(0, 600)")
        raise AssertionError(
            f"no {selector} with {text!r} within {timeout_s:g} s; there were {seen}; the page read {page!r}"
        ) from None


def write_scenario(
    tmp_path: Path, *, duration_s: float = 14, slo: dict[str, Any] | None = None, **mock: Any
) -> Path:
    data = {
        "name": "live",
        "seed": 3,
        "target": {
            "base_url": None,
            "profile": "openai",
            "timeouts": {"connect_s": 5, "first_byte_s": 10, "total_s": 20},
        },
        "mock": {
            "profile": "openai",
            "prefill_base_ms": 60,
            "prefill_per_token_ms": 0,
            "tpot_ms": 10,
            "batch_slowdown": 0,
            "output_dist": "fixed",
            "output_tokens": 20,
            **mock,
        },
        "prompt_sets": [
            {"name": "zh", "weight": 1, "inline": ["请介绍一下你自己"]},
            # a prompt-set name that would be markup if the page did not escape it
            {"name": "<b>en</b>", "weight": 1, "inline": ["Say something about load tests."]},
        ],
        "sampling": {"temperature": 0.5, "stream": {"ratio": 0.5}},
        "load": {"users": 3, "spawn_rate": 10, "duration_s": duration_s, "think_time_s": 0.05},
        "slo": slo if slo is not None else {"ttft_ms": {"p95": 2000}, "error_rate": 0.5},
    }
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


class Dashboard:
    """`chatbench ui` in its own process group, on a free port."""

    def __init__(self, scenario: Path, results: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.results = results
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench",
                "ui",
                str(scenario),
                "--web-port",
                str(self.port),
                "--results-dir",
                str(results),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/llm/state", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError(f"the dashboard did not come up: {self.kill()[-2000:]}")

    def run_dir(self) -> Path:
        (run,) = [p for p in self.results.iterdir() if p.is_dir()]
        return run

    def stop(self, timeout_s: float = 120) -> tuple[int, str, str]:
        """Ctrl-C, as a user ends the session: every test's report is built and its verdict printed."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"chatbench ui did not end within {timeout_s:g} s of its Ctrl-C") from None
        return self.proc.returncode, out, err

    def kill(self) -> str:
        """After a failure no report is wanted: SIGKILL at once (Locust, in its own session, its workers
        and the mock end by the lifeline when chatbench ui is gone); returns what the session printed."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        out, err = self.proc.communicate(timeout=30)
        sys.stderr.write(f"chatbench ui (killed); its stdout:\n{out[-2000:]}\nits stderr:\n{err[-4000:]}\n")
        return err


def _browser_or_skip() -> str:
    binary = find_chromium()
    if binary is None:
        if IN_CI:
            pytest.fail("chromium is not installed; CI must install it (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return binary


def _latencies(text: str) -> list[float]:
    return [float(v.replace(",", "")) for v in text.split(" / ")]


@pytest.mark.slow
@pytest.mark.parametrize("processes", [0, 2], ids=["local", "two-workers"])
def test_the_llm_tab_charts_and_report_in_a_real_browser(tmp_path: Path, processes: int) -> None:
    binary = _browser_or_skip()
    extra = ("--processes", str(processes)) if processes else ()
    dash = Dashboard(write_scenario(tmp_path), tmp_path / "results", *extra)
    try:
        if processes:  # Locust's form stays disabled until the workers are connected
            deadline = time.monotonic() + 60
            while (
                httpx.get(dash.url + "/stats/requests", timeout=5).json().get("worker_count", 0) < processes
            ):
                assert time.monotonic() < deadline, "the workers did not connect"
                time.sleep(0.5)
        with Browser(binary) as browser:
            browser.goto(dash.url + "/")
            # the start form: the scenario's plan in the bar, Locust's user/rate fields disabled
            bar = browser.wait_for(
                "document.getElementById('chatbench-bar') && document.getElementById('chatbench-bar').textContent"
            )
            assert "3 users (spawn 10/s) for 14 s" in bar
            assert browser.wait_for("document.querySelector('input[name=userCount]') !== null")
            assert browser.evaluate("document.querySelector('input[name=userCount]').disabled") is True
            # Locust's page takes the runner state of its first /stats/requests as news whenever that
            # lands; one that left the server before Start and lands after it sends the page back to the
            # form. A user clicks seconds after the page loaded: so does this test, once it has landed.
            browser.wait_for(STATS_LANDED)
            click(browser, "button", "Start")
            click(browser, "[role=tab]", "LLM")
            # a prompt-set name with markup is a column title as text, never an element
            assert browser.wait_for(
                "[...document.querySelectorAll('th')].some(t => t.textContent === '<b>en</b>')"
            )
            assert browser.evaluate("document.querySelectorAll('table b').length") == 0
            first = int(
                browser.wait_for(
                    f"(() => {{ const v = {ROW_CELL % (json.dumps('requests'), json.dumps('since start'), 2)}; return v && v !== '0' ? v : null }})()",
                    30,
                ).replace(",", "")
            )
            ttft = browser.wait_for(
                ROW_CELL % (json.dumps("TTFT ms p50 / p95 / p99"), json.dumps("last 10 s"), 2)
                + " && !"
                + ROW_CELL % (json.dumps("TTFT ms p50 / p95 / p99"), json.dumps("last 10 s"), 2)
                + ".startsWith('–')",
                30,
            )
            assert ttft
            # the count moves on (Locust's page polls every 2 s)
            assert browser.wait_for(
                f"(() => {{ const v = {ROW_CELL % (json.dumps('requests'), json.dumps('since start'), 2)};"
                f" return v && Number(v.replace(/,/g, '')) > {first} }})()",
                30,
            ), "the LLM tab's request count did not move"
            # in flight per column: the prompt sets, and stream and non-stream, each add up to all
            assert browser.wait_for(IN_FLIGHT_ADDS_UP, 30), "no in-flight figures that add up per column"
            assert cell(browser, "SLO ttft_ms.p95 ≤ 2000", "since start").startswith("PASS")
            # the verdict is in colour (green), not only in words
            assert (
                browser.wait_for(
                    "(() => { const td = [...document.querySelectorAll('td')].find(t => t.textContent.startsWith('PASS'));"
                    " return td ? getComputedStyle(td).backgroundColor : null })()"
                )
                == "rgb(200, 242, 200)"
            )
            tab_screenshot = tmp_path / "tab.png"
            browser.screenshot(tab_screenshot)

            # the live charts: four uPlot canvases with points drawn
            browser.goto(dash.url + "/llm/charts")
            browser.wait_for("Number(document.body.getAttribute('data-points') || 0) >= 3", 30)
            drawn = browser.evaluate(
                """[...document.querySelectorAll('canvas')].map(c => {
                     const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                     let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })"""
            )
            assert len(drawn) == 4 and all(n > 500 for n in drawn), drawn
            assert browser.evaluate("document.body.getAttribute('data-y-min')") == "0"  # every y axis from 0

            # stop from the UI: the test's report is built and linked from the bar
            browser.goto(dash.url + "/?tab=llm")
            click(browser, "button", "Stop")
            # Locust's page stops polling once it reads "stopped": the tab then keeps the test's final
            # figures, which include every record (the dashboard says "running" until the runner stopped)
            browser.wait_for(r"/Status\s+STOPPED/.test(document.body.innerText)", 60)
            final = {
                "TTFT": _latencies(cell(browser, "TTFT ms p50 / p95 / p99", "since start")),
                "E2E": _latencies(cell(browser, "E2E ms p50 / p95 / p99", "since start")),
            }
            href = browser.wait_for(
                "(() => { const a = [...document.querySelectorAll('#chatbench-tests a')].find(a => a.textContent === 'report.html'); return a ? a.href : null })()",
                120,
            )
            assert href.endswith("/llm/tests/1/report.html")
            browser.goto(href)
            title = browser.wait_for("document.title")
            assert title.startswith("chatbench report")
            images = browser.wait_for(
                "(() => { const i = [...document.images]; return i.length && i.every(x => x.complete) ? i.map(x => x.naturalWidth) : null })()"
            )
            assert images and all(w > 0 for w in images)
    except BaseException:
        dash.kill()
        raise
    code, out, err = dash.stop()
    run_dir = dash.run_dir()
    summary = json.loads((run_dir / "test-1" / "summary.json").read_text())
    exact = summary["whole_run"]["latency_ms"]
    for label, key in (("TTFT", "ttft_ms"), ("E2E", "e2e_ms")):  # summary.json v3: metric names
        for got, p in zip(final[label], ("p50", "p95", "p99"), strict=True):
            want = exact[key][p]
            # the sketch's error, plus the tab's rounding to 0.1 ms
            assert abs(got - want) <= RELATIVE_ACCURACY * want + 0.05, (label, p, got, want)
    assert code == 0, err[-3000:]
    assert "chatbench: test 1 of 1" in out and "SLO gate: PASS" in out


@pytest.mark.slow
def test_two_tests_are_two_reports_and_the_last_verdict_is_the_exit_code(tmp_path: Path) -> None:
    # every third request fails: the 1 % error-rate SLO is breached, so the exit code is 3
    scenario = write_scenario(tmp_path, duration_s=3, slo={"error_rate": 0.01}, fault_http_500=0.34)
    dash = Dashboard(scenario, tmp_path / "results")
    try:
        for test in (1, 2):
            assert httpx.post(dash.url + "/swarm", timeout=5).json()["success"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                tests = httpx.get(dash.url + "/llm/state", timeout=5).json()["tests"]
                if len(tests) == test and tests[-1]["status"] in ("ready", "failed", "empty"):
                    break
                time.sleep(0.5)
            assert tests[-1]["status"] == "ready" and tests[-1]["verdict"] == "FAIL"
            time.sleep(2)  # an idle gap that must not enter either test's window
        # a number typed into the start form is refused, not ignored
        refused = httpx.post(dash.url + "/swarm", data={"user_count": "7"}, timeout=5).json()
        assert not refused["success"] and "load plan" in refused["message"]
    except BaseException:
        dash.kill()
        raise
    code, out, err = dash.stop()
    assert code == 3, (out[-3000:], err[-3000:])
    assert out.count("SLO gate: FAIL") == 2 and "chatbench: test 2 of 2" in out
    run_dir = dash.run_dir()
    for test in (1, 2):
        summary = json.loads((run_dir / f"test-{test}" / "summary.json").read_text())
        # each test has its own timeline: about 3 s of load, not the session's
        assert summary["run"]["duration_s"] < 6, summary["run"]["duration_s"]
        # and its window comes from its own offered-load schedule: within its 3 s of load
        window = summary["window"]
        assert window["source"] == "schedule" and window["end_s"] - window["start_s"] <= 3.0, window
        assert re.search(r"/test-\d$", summary["run"]["run_id"])
