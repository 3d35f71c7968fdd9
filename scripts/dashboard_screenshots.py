"""Remake the screenshots of docs/dashboard.md: the LLM tab, the live charts and a test's report bar.

    .venv/bin/python scripts/dashboard_screenshots.py            # writes docs/img/dashboard-*.png

Runs ``chatbench ui`` on a small scenario against the embedded mock (two prompt sets, half streamed,
2 % of requests answered 429 and 1 % 500, so the failure rows have something to show), drives Debian's
headless Chromium over the DevTools protocol (``tests/live/browser.py``), starts a test from Locust's
form, takes the pictures while it runs, stops it from the UI and waits for its report link.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live.browser import Browser, find_chromium  # noqa: E402
from tests.load.helpers import free_port  # noqa: E402

OUT = ROOT / "docs" / "img"
SCENARIO = {
    "name": "dashboard-demo",
    "seed": 7,
    "target": {"base_url": None, "profile": "openai"},
    "mock": {"profile": "openai", "fault_http_429": 0.02, "fault_http_500": 0.01},
    "prompt_sets": [
        {"name": "zh", "weight": 1, "jsonl": str(ROOT / "scenarios" / "prompts" / "zh.jsonl")},
        {"name": "en", "weight": 1, "jsonl": str(ROOT / "scenarios" / "prompts" / "en.jsonl")},
    ],
    "sampling": {
        "temperature": {"choice": [0.0, 0.7]},
        "max_tokens": {"uniform": [32, 96]},
        "stream": {"ratio": 0.5},
    },
    "load": {"users": 6, "spawn_rate": 2, "duration_s": 40, "think_time_s": {"uniform": [0.1, 0.5]}},
    "slo": {"ttft_ms": {"p95": 500}, "tpot_ms": {"p99": 50}, "e2e_ms": {"p95": 5000}, "error_rate": 0.01},
}


def main() -> int:
    binary = find_chromium()
    if binary is None:
        sys.stderr.write("chromium is not installed (apt-get install -y chromium)\n")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chatbench-shots-") as tmp:
        scenario = Path(tmp) / "dashboard-demo.yaml"
        scenario.write_text(yaml.safe_dump(SCENARIO, allow_unicode=True), "utf-8")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench",
                "ui",
                str(scenario),
                "--web-port",
                str(port),
                "--results-dir",
                tmp,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url + "/llm/state", timeout=2)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            with Browser(binary, width=1500, height=1300) as browser:
                browser.goto(url + "/")
                browser.wait_for(
                    "[...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'Start')"
                )
                browser.screenshot(OUT / "dashboard-start.png")
                browser.evaluate(
                    "[...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Start').click()"
                )
                browser.wait_for(
                    "[...document.querySelectorAll('[role=tab]')].some(t => t.textContent.includes('LLM'))"
                )
                browser.evaluate(
                    "[...document.querySelectorAll('[role=tab]')].find(t => t.textContent.includes('LLM')).click()"
                )
                time.sleep(25)
                browser.screenshot(OUT / "dashboard-tab.png", full_page=True)
                browser.goto(url + "/llm/charts")
                browser.wait_for("Number(document.body.getAttribute('data-points') || 0) >= 15", 60)
                browser.screenshot(OUT / "dashboard-charts.png", full_page=True)
                browser.goto(url + "/?tab=llm")
                browser.wait_for(
                    "[...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'Stop')"
                )
                browser.evaluate(
                    "[...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Stop').click()"
                )
                browser.wait_for("document.querySelector('#chatbench-tests a') !== null", 120)
                browser.screenshot(OUT / "dashboard-stopped.png")
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(180)
    for name in ("start", "tab", "charts", "stopped"):
        print(OUT / f"dashboard-{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
