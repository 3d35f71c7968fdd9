"""report.html opened in a real headless browser: the verdict and the setup come before the first
table, and every inline plot decodes and renders.

The report itself carries no script. The test opens a copy with a small script appended that, once
the page has loaded, writes into the DOM how many images decoded (``naturalWidth > 0``) and where the
verdict, the setup and the first data table sit on the laid-out page, and reads it back with
``chromium --dump-dom``. Skipped without chromium, except in CI where it must be there.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from bench.gates.overrides import slo_from_dict
from bench.gates.slo import evaluate_slos
from bench.report import build_report
from bench.report.plots import PLOTS
from tests.analysis.factory import make_error, make_record, write_run
from tests.conftest import IN_CI
from tests.live.browser import find_chromium

CHECK = """
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var out = document.createElement("div");
  out.id = "chatbench-check";
  function top(el) { return el ? Math.round(el.getBoundingClientRect().top + window.scrollY) : -1; }
  var verdict = document.getElementById("verdict-banner");
  var setup = document.querySelector("#setup dl");
  var table = document.querySelector("table.data");
  var tall = imgs.filter(function (i) { return i.getBoundingClientRect().height > 50; }).length;
  out.textContent = "IMAGES " + ok + "/" + imgs.length + " SHOWN " + tall + " SCRIPTS " +
    document.scripts.length + " VERDICT " + top(verdict) + " SETUP " + top(setup) + " TABLE " + top(table);
  document.body.appendChild(out);
});
</script>
"""


@pytest.mark.slow
def test_verdict_and_setup_come_first_and_every_plot_renders_in_a_headless_browser(tmp_path):
    browser = find_chromium()
    if browser is None:
        if IN_CI:
            pytest.fail("chromium is not installed; CI must install it (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    records = [make_record(i, at_s=i * 0.05, temperature=(0.2, 1.0)[i % 2]) for i in range(100)]
    records.append(make_error(500, error_message="<script>document.title='pwned'</script>"))
    run = write_run(tmp_path / "run", records, scenario={"name": "b", "slo": {"ttft_ms": {"p95": 500}}})
    result = build_report(run, verdict=evaluate_slos(run, slo_from_dict({"ttft_ms": {"p95": 500}})))
    page = tmp_path / "check.html"
    page.write_text(result.html_path.read_text().replace("</body>", CHECK + "</body>"))
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(
        r"IMAGES (\d+)/(\d+) SHOWN (\d+) SCRIPTS (\d+) VERDICT (-?\d+) SETUP (-?\d+) TABLE (-?\d+)",
        proc.stdout,
    )
    assert match, f"no result in the DOM; stderr: {proc.stderr[-2000:]}"
    ok, total, shown, scripts, verdict, setup, table = map(int, match.groups())
    assert total == len(PLOTS)
    assert ok == total
    assert shown == total  # laid out at a readable size, not collapsed
    assert 0 < verdict < setup < table  # the verdict, then the setup, before the first table
    assert scripts == 1  # only the check script: the server's <script> stayed text
    assert "<title>chatbench report" in proc.stdout
