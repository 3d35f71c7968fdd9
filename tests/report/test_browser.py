"""report.html opened in a real headless browser: every inline plot must decode and render.

The report itself carries no script. The test opens a copy with a small script appended that, once
the page has loaded, writes how many images decoded (``naturalWidth > 0``) into the DOM, and reads it
back with ``chromium --dump-dom``. Skipped without chromium, except in CI where it must be there.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from bench.report import build_report
from bench.report.plots import PLOTS
from tests.analysis.factory import make_error, make_record, write_run
from tests.conftest import IN_CI

CHECK = """
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var out = document.createElement("div");
  out.id = "chatbench-check";
  out.textContent = "IMAGES " + ok + "/" + imgs.length + " SCRIPTS " + document.scripts.length;
  document.body.appendChild(out);
});
</script>
"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
def test_every_plot_renders_in_a_headless_browser(tmp_path):
    browser = _chromium()
    if browser is None:
        if IN_CI:
            pytest.fail("chromium is not installed; CI must install it (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    records = [make_record(i, at_s=i * 0.05, temperature=(0.2, 1.0)[i % 2]) for i in range(100)]
    records.append(make_error(500, error_message="<script>document.title='pwned'</script>"))
    result = build_report(write_run(tmp_path / "run", records))
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
    match = re.search(r"IMAGES (\d+)/(\d+) SCRIPTS (\d+)", proc.stdout)
    assert match, f"no result in the DOM; stderr: {proc.stderr[-2000:]}"
    ok, total, scripts = map(int, match.groups())
    assert total == len(PLOTS)
    assert ok == total
    assert scripts == 1  # only the check script: the server's <script> stayed text
    assert "<title>chatbench report" in proc.stdout
