"""The SLO verdict as a JUnit XML file, the test-report format every CI system reads.

Shape (what GitHub Actions reporters, GitLab ``artifacts:reports:junit`` and Jenkins read):

    <testsuites name="chatbench" tests="N" failures="F" errors="0">
      <testsuite name="chatbench.slo.<scenario>" tests="N" failures="F" errors="0" skipped="0" ...>
        <properties>window, requests, failed_requests</properties>
        <testcase name="ttft_ms.p95 <= 500 ms" classname="chatbench.slo.<scenario>" time="0">
          <failure message="ttft_ms.p95: measured 812.4 ms, limit 500.0 ms, over by ..." type="SloBreach"/>
        </testcase>
        ...
        <system-out>the verdict block</system-out>
        <system-err/>
      </testsuite>
    </testsuites>

One test case per SLO; a breached SLO is a failing case whose message says by how much.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.gates.slo import SloCheck, SloVerdict, format_verdict

__all__ = ["junit_xml", "write_junit"]


def _case_name(check: SloCheck) -> str:
    if check.stat is None:
        return f"{check.name} <= {check.limit:g}"
    return f"{check.name} <= {check.limit:g} ms"


def junit_xml(verdict: SloVerdict, suite: str, *, duration_s: float = 0.0) -> str:
    """The JUnit XML document (a string with its XML declaration) of ``verdict``."""
    tests = str(len(verdict.checks))
    failures = str(len(verdict.breaches))
    classname = f"chatbench.slo.{suite}"
    root = ET.Element("testsuites", name="chatbench", tests=tests, failures=failures, errors="0")
    root.set("time", f"{duration_s:.3f}")
    node = ET.SubElement(
        root,
        "testsuite",
        name=classname,
        tests=tests,
        failures=failures,
        errors="0",
        skipped="0",
        time=f"{duration_s:.3f}",
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        hostname="chatbench",  # required by the Ant JUnit schema; the real host is not the CI's business
    )
    # Element order of the Ant JUnit schema (the strictest readers): properties, testcase*, system-out,
    # system-err.
    properties = ET.SubElement(node, "properties")
    ET.SubElement(properties, "property", name="window", value=verdict.window)
    ET.SubElement(properties, "property", name="requests", value=str(verdict.requests))
    ET.SubElement(properties, "property", name="failed_requests", value=str(verdict.failed))
    for check in verdict.checks:
        case = ET.SubElement(node, "testcase", name=_case_name(check), classname=classname, time="0")
        if not check.passed:
            failure = ET.SubElement(case, "failure", message=check.describe(), type="SloBreach")
            failure.text = check.describe()
    out = ET.SubElement(node, "system-out")
    out.text = format_verdict(verdict)
    ET.SubElement(node, "system-err")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(verdict: SloVerdict, path: str | Path, suite: str, *, duration_s: float = 0.0) -> Path:
    """Write ``junit_xml(verdict, suite)`` to ``path`` (parent directories created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(junit_xml(verdict, suite, duration_s=duration_s), encoding="utf-8")
    return target
