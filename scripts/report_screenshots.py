"""Remake the screenshots of docs/report.md and docs/capacity.md: report.html and capacity.html as a reader
sees them in a browser 1,400 px wide.

    .venv/bin/python scripts/report_screenshots.py      # writes docs/img/report-*.png, docs/img/capacity-*.png

Runs ``chatbench run`` on a small scenario against the embedded mock (two prompt sets, half streamed,
2 % of requests answered 429 and 1 % 500, so the error plot has something to show) and ``chatbench
capacity`` on a sweep of a mock with 6 batch slots, then opens both pages in Debian's headless Chromium
over the DevTools protocol (``tests/live/browser.py``): the top of each page (what a reader sees first)
and the whole page.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live.browser import Browser, find_chromium  # noqa: E402

OUT = ROOT / "docs" / "img"
PROMPTS = ROOT / "scenarios" / "prompts"
RUN = {
    "name": "report-demo",
    "seed": 11,
    "target": {"base_url": None, "profile": "openai"},
    "mock": {"profile": "openai", "fault_http_429": 0.02, "fault_http_500": 0.01},
    "prompt_sets": [
        {"name": "zh", "weight": 1, "jsonl": str(PROMPTS / "zh.jsonl")},
        {"name": "en", "weight": 1, "jsonl": str(PROMPTS / "en.jsonl")},
    ],
    "sampling": {
        "temperature": {"choice": [0.0, 0.7]},
        "max_tokens": {"uniform": [32, 96]},
        "stream": {"ratio": 0.5},
    },
    "load": {"users": 6, "spawn_rate": 3, "duration_s": 40, "think_time_s": {"uniform": [0.1, 0.5]}},
    "slo": {"ttft_ms": {"p95": 500}, "tpot_ms": {"p99": 50}, "e2e_ms": {"p95": 5000}, "error_rate": 0.01},
}
SWEEP = {
    "name": "capacity-demo",
    "seed": 3,
    "target": {"base_url": None, "model": "o", "profile": "openai"},
    "mock": {"profile": "openai", "batch_slots": 6, "output_dist": "fixed", "output_tokens": 32},
    "prompt_sets": [{"name": "zh", "weight": 1, "jsonl": str(PROMPTS / "zh.jsonl")}],
    "sampling": {"temperature": 0.7, "max_tokens": 64, "stream": True},
    "load": {"users": 2, "spawn_rate": 2, "duration_s": 8},
    "slo": {"ttft_ms": {"p95": 150}, "tpot_ms": {"p95": 40}, "error_rate": 0.01},
    "sweep": {"mode": "concurrency", "levels": [1, 2, 4, 6, 8, 10, 12], "step_duration_s": 8, "warmup_s": 2},
    "planning": {"target_users": 200, "headroom": 0.2},
}


def _chatbench(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "bench", *args], check=False, cwd=ROOT)


def _shoot(browser: Browser, page: Path, stem: str) -> None:
    browser.goto(page.as_uri())
    browser.wait_for("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    browser.screenshot(OUT / f"{stem}-top.png")
    browser.screenshot(OUT / f"{stem}-full.png", full_page=True)
    print(f"wrote {OUT / f'{stem}-top.png'} and {OUT / f'{stem}-full.png'}")


def main() -> int:
    binary = find_chromium()
    if binary is None:
        sys.stderr.write("chromium is not installed (apt-get install -y chromium)\n")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chatbench-report-shots-") as tmp:
        base = Path(tmp)
        run_yaml, sweep_yaml = base / "report-demo.yaml", base / "capacity-demo.yaml"
        run_yaml.write_text(yaml.safe_dump(RUN, allow_unicode=True), "utf-8")
        sweep_yaml.write_text(yaml.safe_dump(SWEEP, allow_unicode=True), "utf-8")
        _chatbench("run", str(run_yaml), "--results-dir", str(base / "results"), "--run-id", "report-demo")
        _chatbench("capacity", str(sweep_yaml), "--out", str(base / "capacity"))
        report = base / "results" / "report-demo" / "report.html"
        capacity = base / "capacity" / "capacity.html"
        with Browser(binary, width=1400, height=1600) as browser:
            _shoot(browser, report, "report")
            _shoot(browser, capacity, "capacity")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
