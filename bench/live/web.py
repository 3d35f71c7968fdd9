"""The LLM tab in Locust's web UI, the live charts page, and the per-test reports (master / local runner).

``LiveDashboard`` hangs off Locust's ``Environment`` (``environment.chatbench_live``) and is fed every
finished record. In Locust's own UI it adds:

- an **LLM** tab (``template_args["extended_tabs"]``/``["extended_tables"]``), whose rows ride on
  ``/stats/requests`` as ``extended_stats`` (an ``after_request`` hook, as Locust's
  ``examples/extend_web_ui.py`` does): one column per group (all, each prompt set, stream, non-stream),
  one row per figure (see ``tab_rows``); every cell is text, which Locust's React table escapes;
- a bar above Locust's page (``/`` gets it in an ``after_request`` hook) with the scenario's load plan,
  the links to the charts and to each stopped test's report, and the bottleneck warning; its text is
  escaped on the server, and ``banner.js`` keeps it current with DOM text nodes only;
- ``/llm/charts``: TTFT and TPOT p50/p95, tokens/s, requests/s and errors/s over time, drawn with the
  vendored uPlot (``bench/live/static``, no CDN);
- ``/llm/state``, ``/llm/series`` (JSON), ``/llm/tests/N/<file>`` (a test's report files).

Every route is behind Locust's ``--web-login`` when it is on (``auth_required_if_enabled``).

The start form: the scenario's shape drives the load, so Locust's user-count, spawn-rate and run-time
fields are shown disabled (the bar says what the plan is), and a ``/swarm`` that still carries one of
them, or a host other than the session's target, is refused with a message rather than ignored.

Tests: each start begins a new test (a fresh ``LiveStats``, a new entry in ``tests.json``); each stop
builds that test's report in ``RUN_DIR/test-N/`` in a subprocess (``bench.live.testruns``).
"""

from __future__ import annotations

import html
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import gevent
from locust.runners import STATE_CLEANUP, STATE_INIT, STATE_RUNNING, STATE_SPAWNING, STATE_STOPPING

from bench import metrics
from bench.live.aggregate import GROUP_ALL, LiveSlo, LiveStats
from bench.live.sketch import RELATIVE_ACCURACY
from bench.live.testruns import REPORT_FILES, read_tests, test_dir, write_tests
from bench.records import Record

__all__ = ["LiveDashboard", "load_plan"]

log = logging.getLogger("chatbench")
STATIC = Path(__file__).with_name("static")
TAB_KEY = "llm"
_FOLD_S = 1.0
_DOWNLOADS = (*REPORT_FILES, "summary.md", "slo.md", "report.log")


def load_plan(scenario: Any) -> str:
    """The scenario's load plan in one line, as the start form's replacement says it."""
    load = scenario.load
    parts = []
    for stage in load.stages:
        if load.arrival is not None:
            rate = stage.rate_rps or load.arrival.rate_rps
            parts.append(f"{load.arrival.process} arrivals at {rate:g} req/s for {stage.duration_s:g} s")
        else:
            parts.append(f"{stage.users} users (spawn {stage.spawn_rate:g}/s) for {stage.duration_s:g} s")
    text = "; then ".join(parts)
    if load.max_requests is not None:
        text += f", at most {load.max_requests} requests"
    return f"{text}; then the answers in flight are awaited"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f} %"


class LiveDashboard:
    """The live view of one dashboard session (see the module docstring)."""

    def __init__(
        self,
        environment: Any,
        scenario: Any,
        run_dir: Path,
        *,
        inflight: Callable[[], Iterable[tuple[str, bool, int]]] | None = None,
        driven: bool = False,
        target: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.environment = environment
        self.scenario = scenario
        self.run_dir = run_dir
        self.inflight = inflight
        self.driven = driven
        self.target = target
        self.prompt_sets = [ps.name for ps in scenario.prompt_sets]
        self.slo = LiveSlo.from_scenario(scenario.slo)
        self.stats: LiveStats | None = None
        self.tests: list[dict[str, Any]] = read_tests(run_dir)
        self.reports: dict[int, str] = {}  # test -> "building" | "ready" | "empty" | "failed"
        self._server: Any = None  # bench.servermetrics.live.LiveServerMetrics, made on first read
        self._folder = gevent.spawn(self._fold_loop)
        environment.events.test_start.add_listener(self._on_test_start)
        environment.events.test_stop.add_listener(self._on_test_stop)
        environment.events.quitting.add_listener(self._on_quitting)
        environment.events.quit.add_listener(self._on_quit)
        self._quitting = False
        if environment.web_ui is not None:
            self._install_web(environment.web_ui)

    # -- records and tests ---------------------------------------------------------------------

    def on_record(self, record: Record) -> None:
        stats = self.stats
        if stats is not None:
            stats.add(record)

    @property
    def test(self) -> int:
        return self.tests[-1]["test"] if self.tests else 0

    def _new_stats(self, started_at_s: float) -> LiveStats:
        from bench.analysis.bottleneck import CPU_LIMIT_PCT

        return LiveStats(
            prompt_sets=self.prompt_sets,
            slo=self.slo,
            started_at_s=started_at_s,
            inflight=self.inflight,
            cpu_limit_pct=CPU_LIMIT_PCT,
        )

    def _on_test_start(self, **_kw: Any) -> None:
        now = time.time()
        self.tests.append({"test": self.test + 1, "started_at_s": now, "stopped_at_s": None})
        write_tests(self.run_dir, self.tests)
        self.stats = self._new_stats(now)

    def _on_test_stop(self, **_kw: Any) -> None:
        if not self.tests or self.tests[-1]["stopped_at_s"] is not None:
            return
        self.tests[-1]["stopped_at_s"] = time.time()
        schedule = _session_schedule(self.run_dir)
        if schedule is not None:  # the shape starts it afresh at each start: keep this test's
            self.tests[-1]["schedule"] = schedule
        if self._quitting:  # Ctrl-C (or the process ending) cut the test short
            self.tests[-1]["interrupted"] = True
        write_tests(self.run_dir, self.tests)
        test = self.test
        self.reports[test] = "building"
        gevent.spawn(self._build_report, test)

    def _build_report(self, test: int) -> None:
        # The records of requests ended by the stop reach the records files within the writer's flush
        # interval (0.5 s); distributed, the workers' last batches are still on their way.
        gevent.sleep(1.5 if self.environment.runner.__class__.__name__ == "LocalRunner" else 5.0)
        out = test_dir(self.run_dir, test)
        out.mkdir(exist_ok=True)
        from gevent import subprocess as gsub

        with (out / "report.log").open("wb") as logf:
            proc = gsub.Popen(
                [sys.executable, "-m", "bench.live.testruns", str(self.run_dir), str(test)],
                stdout=logf,
                stderr=subprocess.STDOUT,
            )
            code = proc.wait()
        self.reports[test] = self._report_state(test, code)

    def _report_state(self, test: int, code: int | None) -> str:
        out = test_dir(self.run_dir, test)
        if (out / "report.html").is_file():
            return "ready"
        if code == 0 and not any((out / "records").glob("*.jsonl")):
            return "empty"
        run = json.loads((out / "run.json").read_text("utf-8")) if (out / "run.json").is_file() else {}
        return "empty" if run.get("records") == 0 else "failed"

    def _on_quitting(self, **_kw: Any) -> None:
        self._quitting = True  # Locust fires this before it stops a running test

    def _on_quit(self, **_kw: Any) -> None:
        self._folder.kill(block=False)
        if self.driven:
            return  # `chatbench ui` builds what is missing and prints every test's verdict
        for t in self.tests:
            if not (test_dir(self.run_dir, t["test"]) / "report.html").is_file():
                subprocess.run(
                    [sys.executable, "-m", "bench.live.testruns", str(self.run_dir), str(t["test"])],
                    check=False,
                    timeout=600,
                )

    def _fold_loop(self) -> None:
        while True:
            gevent.sleep(_FOLD_S)
            stats = self.stats
            if stats is not None:
                try:
                    stats.fold()
                except Exception as exc:  # the live view must never end the run
                    log.error("chatbench live view: %s: %s", type(exc).__name__, exc)

    # -- what the tab shows --------------------------------------------------------------------

    def columns(self) -> tuple[list[tuple[str, str]], list[str]]:
        """The group columns as (key, title) pairs, and the group each stands for: all, each prompt set,
        stream, non-stream."""
        groups = [GROUP_ALL, *(f"set:{n}" for n in self.prompt_sets), "stream", "non-stream"]
        titles = ["all", *self.prompt_sets, "stream", "non-stream"]
        return [(f"g{i}", title) for i, title in enumerate(titles)], groups

    def tab_rows(self) -> list[dict[str, str]]:
        """The LLM tab's rows: a figure and span per row, one cell per group (text only)."""
        stats = self.stats
        if stats is None:
            return [{"name": "status", "metric": "no test started yet", "span": ""}]
        stats.fold()
        cols, groups = self.columns()
        views = {(g, w): stats.view(g, window=w) for g in groups if g in stats.groups for w in (True, False)}
        rows: list[dict[str, str]] = []

        def row(metric: str, span: str, cell: Callable[[dict[str, Any]], str], window: bool = False) -> None:
            out = {"name": f"{metric} {span}", "metric": metric, "span": span}
            for (key, _title), g in zip(cols, groups, strict=True):
                view = views.get((g, window))
                out[key] = cell(view) if view is not None else "–"
            rows.append(out)

        age = time.time() - stats.started_at_s
        state = "running" if self.tests and self.tests[-1]["stopped_at_s"] is None else "stopped"
        rows.append(
            {"name": "test", "metric": f"test {self.test}", "span": f"{state}, {age:,.0f} s", "g0": ""}
        )
        for i, (name, limit) in enumerate(self._slo_names()):
            row(f"SLO {name} ≤ {limit}", "since start", partial(_slo_cell, i))
        health = stats.bottleneck()
        if health is not None:
            warn = health["warning"]
            rows.append(
                {
                    "name": "load generator",
                    "metric": "load generator CPU (sustained)",
                    "span": f"last {stats.window_s:g} s",
                    "g0": (
                        f"WARNING {health['cpu_pct']:.0f} % of a core on {health['worker']} (over {health['limit_pct']:.0f} %): "
                        "timings may be inflated"
                        if warn
                        else f"{health['cpu_pct']:.0f} % of a core ({health['worker']})"
                    ),
                }
            )
        server = self._server_line()
        if server is not None:
            rows.append(
                {"name": "server", "metric": "server (its /metrics)", "span": "latest scrape", "g0": server}
            )
        row("requests", "since start", lambda v: f"{v['requests']:,}")
        inflight = stats.in_flight()
        rows.append(
            {
                "name": "in flight",
                "metric": "in flight",
                "span": "now",
                **{
                    key: "–" if inflight is None else f"{inflight.get(g, 0):,}"
                    for (key, _), g in zip(cols, groups, strict=True)
                },
            }
        )
        row(
            "failed (every kind)",
            "since start",
            lambda v: f"{v['failed']:,} ({_pct(v['failed'] / v['requests'] if v['requests'] else None)})",
        )
        row("throttled (HTTP 429)", "since start", lambda v: f"{v['by_kind'].get('throttled', 0):,}")
        kinds = sorted({k for v in views.values() for k in v["by_kind"] if k != "throttled"})
        for kind in kinds:
            row(f"failed: {kind}", "since start", partial(_kind_cell, kind))
        row("cancelled by the run (not counted)", "since start", lambda v: f"{v['cancelled']:,}")
        everything = views.get((GROUP_ALL, False))
        for metric in metrics.all_metrics(kind="latency"):
            # a latency the run does not measure (TTFO without reasoning, lag of a closed loop) shows no row
            measured = everything is not None and everything["latency_ms"][metric.name]["n"] > 0
            if not (metric.shown_when_empty or measured):
                continue
            for window, span in ((True, f"last {stats.window_s:g} s"), (False, "since start")):
                row(
                    f"{metric.label} {metric.unit} p50 / p95 / p99",
                    span,
                    partial(_latency_cell, metric.name),
                    window,
                )
        for window, span in ((True, f"last {stats.window_s:g} s"), (False, "since start")):
            row("output tokens/s", span, lambda v: _fmt(v["output_tokens_per_s"]), window)
            row("requests/s (successful)", span, lambda v: _fmt(v["requests_per_s"], 2), window)
            if stats.limits:
                row(
                    "goodput req/s (share)",
                    span,
                    lambda v: f"{_fmt(v['goodput_rps'], 2)} ({_pct(v['good_share'])})",
                    window,
                )
        rows.append(
            {
                "name": "note",
                "metric": "percentiles",
                "span": f"within {RELATIVE_ACCURACY * 100:g} % (DDSketch); the report is exact",
                "g0": "",
            }
        )
        for i, r in enumerate(rows):  # Locust's table sorts by "name": keep this order
            r["name"] = f"{i:03d}"
        return rows

    def _server_line(self) -> str | None:
        """The target's own latest signals (``bench.servermetrics``), when its /metrics is scraped."""
        if self._server is None:
            from bench.servermetrics.live import LiveServerMetrics

            self._server = LiveServerMetrics(self.run_dir)
        latest = self._server.latest()
        if latest is None:
            return None
        if latest.get("server") is None:
            return f"not read: {latest.get('last_error') or 'no known metric names'}"
        parts = [str(latest["server"])]
        for key, label in (("running", "running"), ("waiting", "waiting")):
            if latest.get(key) is not None:
                parts.append(f"{label} {latest[key]:,.0f}")
        if latest.get("kv_usage") is not None:
            parts.append(f"KV cache {latest['kv_usage'] * 100:.0f} %")
        if latest.get("generated_tokens_per_s") is not None:
            parts.append(f"{latest['generated_tokens_per_s']:,.0f} generated tokens/s")
        parts.append(f"{latest.get('age_s', 0.0):.1f} s ago")
        return " · ".join(parts)

    def _slo_names(self) -> list[tuple[str, str]]:
        out = [(f"{m}.{s}", f"{limit:g}") for m, s, limit in self.slo.thresholds]
        if self.slo.error_rate is not None:
            out.append(("error_rate", f"{self.slo.error_rate * 100:g} %"))
        return out

    def state(self) -> dict[str, Any]:
        """The bar's and the charts page's JSON: tests, report links, bottleneck."""
        base = self._base()
        tests = []
        for t in self.tests:
            n = t["test"]
            status = self.reports.get(n)
            if status is None:
                status = "running" if t["stopped_at_s"] is None else self._report_state(n, None)
            out = test_dir(self.run_dir, n)
            files = (
                {name: f"{base}/llm/tests/{n}/{name}" for name in REPORT_FILES if (out / name).is_file()}
                if status == "ready"
                else {}
            )
            verdict = None
            if (out / "slo.json").is_file():
                try:
                    verdict = (
                        "PASS" if json.loads((out / "slo.json").read_text("utf-8")).get("passed") else "FAIL"
                    )
                except ValueError:
                    verdict = None
            tests.append({"test": n, "status": status, "files": files, "verdict": verdict})
        stats = self.stats
        health = stats.bottleneck() if stats is not None else None
        return {
            "test": self.test,
            "tests": tests,
            "plan": load_plan(self.scenario),
            "bottleneck": health,
            "run_dir": str(self.run_dir),
        }

    # -- Locust's web UI -----------------------------------------------------------------------

    def _base(self) -> str:
        opts = self.environment.parsed_options
        return ((getattr(opts, "web_base_path", None) or "") if opts is not None else "").rstrip("/")

    def _install_web(self, web_ui: Any) -> None:
        from flask import Blueprint, Response, abort, jsonify, request, send_from_directory

        shape = self.environment.shape_class
        if shape is not None:
            shape.use_common_options = False  # the form shows users / spawn rate / run time disabled
        cols, _groups = self.columns()
        web_ui.template_args["extended_tabs"] = [{"title": "LLM", "key": TAB_KEY}]
        web_ui.template_args["extended_tables"] = [
            {
                "key": TAB_KEY,
                "structure": [
                    {"key": "metric", "title": "Figure"},
                    {"key": "span", "title": "Span"},
                    *({"key": key, "title": title} for key, title in cols),
                ],
            }
        ]
        base = self._base()
        web_ui.template_args["extended_csv_files"] = [
            {"href": f"{base}/llm/charts", "title": "LLM: live charts"},
            {"href": f"{base}/llm/state", "title": "LLM: tests and their reports (JSON)"},
        ]
        auth = web_ui.auth_required_if_enabled
        bp = Blueprint("chatbench_live", __name__, static_folder=str(STATIC), url_prefix=f"{base}/llm")

        @bp.route("/state")
        @auth
        def state() -> Response:
            return jsonify(self.state())

        @bp.route("/series")
        @auth
        def series() -> Response:
            stats = self.stats
            try:
                since = max(int(request.args.get("from", "0")), 0)
            except ValueError:
                since = 0
            if stats is None:
                return jsonify({"test": 0, "from": 0, "series": {}})
            stats.fold()
            return jsonify({"test": self.test, "from": since, "series": stats.series_since(since)})

        @bp.route("/charts")
        @auth
        def charts() -> Response:
            page = (STATIC / "charts.html").read_text("utf-8")
            page = page.replace("{{BASE}}", html.escape(base, quote=True))
            page = page.replace("{{TITLE}}", html.escape(self.scenario.name))
            return Response(page, mimetype="text/html")

        @bp.route("/tests/<int:test>/<name>")
        @auth
        def test_file(test: int, name: str) -> Response:
            if name not in _DOWNLOADS and not (name.endswith(".png") and "/" not in name):
                abort(404)
            return send_from_directory(test_dir(self.run_dir, test), name)

        web_ui.app.register_blueprint(bp)
        app = web_ui.app

        @app.before_request
        def refuse_ignored_fields() -> Any:
            if request.method != "POST" or request.path != f"{base}/swarm":
                return None
            given = [
                k
                for k in ("user_count", "spawn_rate", "run_time")
                if request.form.get(k, "").strip() not in ("", "0")
            ]
            host = request.form.get("host", "").strip()
            target = self.target()
            message = None
            if given:
                message = (
                    f"this test follows the scenario's load plan ({load_plan(self.scenario)}); "
                    f"{', '.join(given)} cannot be set here: change the scenario or use -u/-r/-t"
                )
            elif host and target and host.rstrip("/") != target.rstrip("/"):
                message = (
                    f"the target of this session is {target}; to test another, start again with --host {host}"
                )
            if message is None:
                return None
            return jsonify({"success": False, "message": message, "host": target})

        @app.after_request
        def extend(response: Response) -> Response:
            path = request.path
            if path == f"{base}/stats/requests" and response.status_code == 200 and response.is_json:
                try:
                    # Locust caches this response (2 s, doubled when slow) and hands out the same
                    # object: extend a copy, so the cache stays Locust's own
                    data = dict(response.get_json())
                    data["state"] = _page_state(self.environment.runner)
                    data["extended_stats"] = [{"key": TAB_KEY, "data": self.tab_rows()}]
                    return app.response_class(json.dumps(data), mimetype="application/json")
                except Exception as exc:  # the live view must never break Locust's own page
                    log.error("chatbench live view: %s: %s", type(exc).__name__, exc)
            elif (
                path in (f"{base}/", base)
                and response.mimetype == "text/html"
                and response.status_code == 200
            ):
                page = response.get_data(as_text=True)
                if "<body>" in page and "chatbench-bar" not in page:
                    response.set_data(page.replace("<body>", "<body>" + self._bar(), 1))
            return response

    def _bar(self) -> str:
        base = html.escape(self._base(), quote=True)
        plan = html.escape(load_plan(self.scenario))
        name = html.escape(self.scenario.name)
        return (
            '<div id="chatbench-bar" style="font:13px sans-serif;padding:6px 12px;background:#1e3a5f;color:#fff">'
            f"<b>chatbench</b> {name}: <span>{plan}</span> · "
            f'<a style="color:#9cf" href="{base}/llm/charts" target="_blank">LLM charts</a> · '
            f'<span id="chatbench-tests"></span> <span id="chatbench-warning" style="color:#fc6"></span>'
            f'</div><script src="{base}/llm/static/banner.js" data-base="{base}" defer></script>'
        )


def _page_state(runner: Any) -> str:
    """The runner state Locust's page is told with its stats.

    Locust's page polls ``/stats/requests`` only while the state is ``spawning`` or ``running``, and
    takes any other state it reads as where the test now is, for good. Two of Locust's own states would
    leave the page wrong until it is reloaded:

    - a shape test that ``/swarm`` has started stays ``ready`` until the shape's greenlet first ticks
      and ``test_start`` has fired (a second or more on a busy master): read after Start, it sends the
      page back to the start form while the test runs unseen. It is told ``spawning``;
    - a test being stopped is ``stopping`` (a master waits for its workers to report) or ``cleanup``
      (the local runner stops its users): the page would stay on that state with the LLM tab's figures
      of that moment, without the records that arrive while the test ends (the workers' last batches).
      It is told ``running`` until the runner has ``stopped``, whose figures are the test's final ones.

    The state is the runner's now: the rest of the response may come from Locust's cache (2 s, doubled
    when slow)."""
    state = str(runner.state)
    if state == STATE_INIT and getattr(runner, "shape_greenlet", None) is not None:
        return STATE_SPAWNING
    if state in (STATE_STOPPING, STATE_CLEANUP):
        return STATE_RUNNING
    return state


def _session_schedule(run_dir: Path) -> Any:
    """The offered load's schedule the shape wrote into the session's ``run.json`` (this test's)."""
    try:
        return json.loads((run_dir / "run.json").read_text("utf-8")).get("schedule")
    except (OSError, ValueError):
        return None


def _kind_cell(kind: str, view: dict[str, Any]) -> str:
    return f"{view['by_kind'].get(kind, 0):,}"


def _latency_cell(metric: str, view: dict[str, Any]) -> str:
    return " / ".join(_fmt(view["latency_ms"][metric][p]) for p in ("p50", "p95", "p99"))


def _slo_cell(index: int, view: dict[str, Any]) -> str:
    """One SLO's verdict on a group so far: a coloured mark, PASS/FAIL, the value against the limit."""
    check = view["slo"][index]
    state = check["state"]
    measured = check["measured"]
    if state == "none":
        return "no value yet"
    value = _pct(measured) if check["name"] == "error_rate" else _fmt(measured)
    limit = _pct(check["limit"]) if check["name"] == "error_rate" else f"{check['limit']:g}"
    return f"{'PASS' if state == 'pass' else 'FAIL'} {value} vs {limit}"  # banner.js colours it
