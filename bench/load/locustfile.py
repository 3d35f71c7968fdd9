"""The Locust entry point: ``locust -f bench/load/locustfile.py --scenario FILE [Locust flags]``.

``chatbench run``, ``chatbench ui`` and ``chatbench worker`` run this file in a Locust process; it also
works on its own with Locust's own flags (``--headless``, ``--processes N``, ``--master``/``--worker``,
the web UI). Custom flags (each with an environment-variable fallback):

    --scenario FILE          CHATBENCH_SCENARIO     the scenario (required, except on a worker)
    --overrides JSON         CHATBENCH_OVERRIDES    scenario overrides, e.g. '{"users": 8}'
    --run-dir DIR            CHATBENCH_RUN_DIR      where the run is written (default: a new results/<run-id>/)
    --results-dir DIR        CHATBENCH_RESULTS_DIR  parent of new run directories (default: results)
    --drain-timeout S        CHATBENCH_DRAIN_TIMEOUT  longest wait for answers in flight at the end
    --progress-interval S                           print a progress line every S seconds (0: off)
    --run-options JSON                              what the driver adds to run.json (set by chatbench)

One place runs the run, whoever started Locust: the master or the local runner (``_begin_run``,
``_end_run``) creates the run directory, starts the embedded mock when there is no target, writes
``scenario.json`` and ``run.json``, scrapes the server's ``/metrics`` (``bench.servermetrics``), is
the one writer of the records (``bench.load.stream``), merges
them into ``records.parquet`` and finishes ``run.json`` when Locust quits. Workers only generate load:
they get the resolved scenario from the master (``bench.load.bundle``) and send back every record.
All state is on the ``Environment`` (``bench.load.context.load_context``).

The load follows the scenario through ``ScenarioShape``: one step per ``load.stages`` entry, then a
*drain* step at zero users that lasts until every process reports no request in flight (bounded by
the drain timeout). Then the master asks every worker for the end of its record stream and waits for
it (bounded by the drain timeout), so nothing in flight at the end is lost, even though Locust's master
waits only 0.5 s after telling workers to quit. A worker that goes missing (Locust's heartbeat) is
named in ``run.json`` with the time of its last batch: what it recorded after that is lost.
``--stop-timeout`` defaults to the drain timeout so users stop gracefully after their current answer.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import LoadTestShape, events
from locust.runners import STATE_MISSING, LocalRunner, MasterRunner, WorkerRunner

from bench.errors import ChatbenchError
from bench.lifeline import watch_gevent
from bench.load.breaker import unreachable_since
from bench.load.context import LoadContext, StepInfo, load_context
from bench.load.hub import record_hub
from bench.load.stream import ACK_MESSAGE, RECORDS_MESSAGE, RecordCollector
from bench.load.users import ArrivalUser, ChatUser
from bench.records import StopReason

__all__ = ["ArrivalUser", "ChatUser", "ScenarioShape"]

log = logging.getLogger("chatbench")
STEP_MESSAGE = "chatbench_step"
END_MESSAGE = "chatbench_end"  # master -> workers: stop, flush, send your end-of-stream mark
_REPORT_KEY = "chatbench"
_SETTLE_S = 3.5  # one worker report interval (3 s) so Locust's own stats get the last results
_END_MARK = 1
_LAST_WORDS_S = 1.5


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("chatbench")
    group.add_argument("--scenario", env_var="CHATBENCH_SCENARIO", default="", help="scenario YAML file")
    group.add_argument(
        "--overrides",
        env_var="CHATBENCH_OVERRIDES",
        default="",
        help='scenario overrides as JSON, e.g. {"users": 8}',
    )
    group.add_argument(
        "--run-dir", env_var="CHATBENCH_RUN_DIR", default="", help="results directory of this run"
    )
    group.add_argument(
        "--results-dir",
        env_var="CHATBENCH_RESULTS_DIR",
        default="results",
        help="parent of new run directories",
    )
    group.add_argument(
        "--drain-timeout",
        env_var="CHATBENCH_DRAIN_TIMEOUT",
        type=float,
        default=0.0,
        help="longest wait for answers in flight at the end, s (default: the scenario's total timeout)",
    )
    group.add_argument("--progress-interval", type=float, default=0.0, help="progress line every S seconds")
    group.add_argument(
        "--step-label", type=int, default=-1, help="label every record with this step (capacity sweeps)"
    )
    group.add_argument("--run-options", default="", help="JSON added to run.json (set by chatbench)")
    group.add_argument("--driven", action="store_true", default=False, help="run by chatbench (internal)")
    group.add_argument(
        "--no-probe", action="store_true", default=False, help="no probe request to the embedded mock"
    )
    for (
        action
    ) in group._group_actions:  # set on the command line: a field in the web UI's form would do nothing
        action.include_in_web_ui = False
    parser.set_defaults(web_host="127.0.0.1")  # the dashboard on loopback unless --web-host says otherwise


def _fail(message: str) -> None:
    sys.stderr.write(f"chatbench: error: {message}\n")
    sys.stderr.flush()
    os._exit(2)  # before any user starts; a SystemExit here would only end this greenlet


@events.init.add_listener
def _on_init(environment: Any, runner: Any, **_kw: Any) -> None:
    opts = environment.parsed_options
    ctx = LoadContext(environment=environment)
    environment.chatbench = ctx
    watch_gevent(lambda: _parent_gone(ctx))  # started by chatbench: end with it, whatever signal ends it
    if isinstance(runner, WorkerRunner):
        _init_worker(ctx, runner)
        return
    if opts is None or not opts.scenario:
        _fail("give the scenario: --scenario FILE (or CHATBENCH_SCENARIO)")
    if isinstance(runner, MasterRunner):
        _answer_hellos(ctx, runner)  # first: workers may connect while the run is being set up
    try:
        _load(ctx, opts)
        _begin_run(ctx, environment, runner, opts)
    except ChatbenchError as exc:
        _fail(str(exc))


def _load(ctx: LoadContext, opts: Any) -> None:
    from bench.scenario.loader import load_scenario
    from bench.tokens import load_tokenizer

    try:
        overrides = json.loads(opts.overrides) if opts.overrides else {}
    except json.JSONDecodeError as exc:
        _fail(f"--overrides is not JSON: {exc}")
    # Locust's own -u/-r/-t mean the same as chatbench's overrides (a shape would ignore them).
    for key, value in (
        ("users", opts.num_users),
        ("spawn_rate", opts.spawn_rate),
        ("duration_s", opts.run_time),
    ):
        if value is not None:
            overrides.setdefault(key, value)
    scenario = load_scenario(opts.scenario, overrides)
    ctx.scenario = scenario
    ctx.token_counter = load_tokenizer(scenario.target.tokenizer) if scenario.target.tokenizer else None
    ctx.options = {
        "drain_timeout_s": opts.drain_timeout or scenario.target.timeouts.total_s,
        "step_label": opts.step_label,
        "driven": bool(opts.driven),
        "no_probe": bool(opts.no_probe),
    }


# -- the master or the local runner: the run itself --------------------------------------------------


def _begin_run(ctx: LoadContext, environment: Any, runner: Any, opts: Any) -> None:
    """Run directory, target (the embedded mock when there is none), scenario.json, run.json, the writer."""
    from bench.load.rundir import create_run_dir, write_run_json, write_scenario_json

    scenario = ctx.scenario
    assert scenario is not None
    if not environment.stop_timeout:
        environment.stop_timeout = ctx.options["drain_timeout_s"]
    try:
        driver = json.loads(opts.run_options) if opts.run_options else {}
    except json.JSONDecodeError as exc:
        _fail(f"--run-options is not JSON: {exc}")
    ctx.run_dir = Path(opts.run_dir) if opts.run_dir else create_run_dir(opts.results_dir, scenario.name)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    ctx.run_id = ctx.run_dir.name
    ctx.base_url = environment.host or scenario.target.base_url
    if ctx.base_url is None:
        if isinstance(runner, MasterRunner) and not opts.processes:
            _fail(
                "the embedded mock serves this machine only (127.0.0.1), and workers on other machines "
                "cannot reach it: give the server under test with --host URL (for a test setup, start "
                "`chatbench mock --host 0.0.0.0` on a machine the workers can reach and pass its URL)"
            )
        ctx.base_url = _start_mock(ctx)
    environment.host = ctx.base_url
    from bench.servermetrics.process import scraping

    ctx.services.enter_context(scraping(scenario.server_metrics, ctx.base_url, ctx.run_dir))
    write_scenario_json(ctx.run_dir, scenario)
    write_run_json(
        ctx.run_dir,
        run_id=ctx.run_id,
        target_url=ctx.base_url,
        command=driver.pop("command", sys.argv),
        options=driver,
    )
    log.info("chatbench: results go to %s", ctx.run_dir)

    def ack(client_id: str, data: dict[str, Any]) -> None:
        runner.send_message(ACK_MESSAGE, data, client_id=client_id)

    ctx.collector = RecordCollector(ctx.run_dir, record_hub(environment), ack)
    runner.register_message(
        RECORDS_MESSAGE, lambda environment, msg, **_: ctx.collector.receive(msg.node_id, msg.data)
    )
    if isinstance(runner, LocalRunner):
        _register_load_messages(ctx, runner)
        ctx.ready.set()
    else:
        _init_master(ctx, runner)
    # Added after the runner's own listeners, so it runs before them (quitting fires in reverse):
    # the master still hears its workers while it waits for the end of their record streams.
    environment.events.quitting.add_listener(lambda environment, **_: _finish_stream(ctx))
    environment.events.quit.add_listener(lambda exit_code, **_: _end_run(ctx, exit_code))
    if opts.progress_interval > 0:
        _start_progress(ctx, opts.progress_interval)
    if environment.web_ui is not None:
        from bench.live import install

        install(
            environment,
            scenario,
            ctx.run_dir,
            inflight=lambda: _inflight_groups(ctx),
            driven=bool(opts.driven),
            target=lambda: ctx.base_url,
        )


def _inflight(ctx: LoadContext) -> int:
    """Requests in flight now, in this process and in every worker (as last reported)."""
    return ctx.inflight + sum(r.get("inflight", 0) for _, r in ctx.worker_reports.values())


def _inflight_by(ctx: LoadContext) -> list[tuple[str, bool, int]]:
    """This process's requests in flight now per (prompt set, stream), as a worker reports them."""
    return [(ps, stream, n) for (ps, stream), n in ctx.inflight_by.items() if n]


def _inflight_groups(ctx: LoadContext) -> list[tuple[str, bool, int]]:
    """Requests in flight now per (prompt set, stream), here and in every worker (as last reported)."""
    out = _inflight_by(ctx)
    for _, report in ctx.worker_reports.values():
        out.extend((str(ps), bool(stream), int(n)) for ps, stream, n in report.get("inflight_by", ()))
    return out


def _parent_gone(ctx: LoadContext) -> None:
    """chatbench is gone (killed): keep what was recorded, send nothing more, exit now.

    Every process sees the same end (workers inherit the lifeline). A load generator stops its users
    (a request in flight gets its ``cancelled`` record) and sends its last batch. ZeroMQ only queues a
    message, so a worker that exited at once would take that batch with it: it waits for the master's
    acknowledgement, and the master waits for the end of every live worker's stream, each at most
    ``_LAST_WORDS_S``, before they exit."""
    try:
        runner = ctx.environment.runner
        deadline = time.monotonic() + _LAST_WORDS_S
        if runner is not None and not isinstance(runner, MasterRunner):
            runner.user_greenlets.kill(block=True, timeout=_LAST_WORDS_S / 3)
        ctx.close()
        if isinstance(runner, WorkerRunner) and ctx.sink is not None:
            while ctx.sink.unacked and time.monotonic() < deadline:
                gevent.sleep(0.02)
        if ctx.collector is not None:
            while time.monotonic() < deadline and _unfinished_streams(ctx, runner):
                gevent.sleep(0.02)
            ctx.collector.close()
        if ctx.mock is not None:
            ctx.mock.stop(1.0)
    finally:
        os._exit(1)


def _unfinished_streams(ctx: LoadContext, runner: Any) -> bool:
    """Some load generator's records have not all arrived: a live worker has not closed its stream."""
    assert ctx.collector is not None
    if isinstance(runner, MasterRunner):
        live = [cid for cid, node in runner.clients.items() if node.state != STATE_MISSING]
        return not all(getattr(_stream_of(ctx, cid), "final", False) for cid in live)
    return not all(s.final for s in ctx.collector.streams.values())


def _start_mock(ctx: LoadContext) -> str:
    from bench.load.runner import mock_settings, probe_before_load
    from bench.mock.process import start_mock

    assert ctx.run_dir is not None and ctx.scenario is not None
    (ctx.run_dir / "mock").mkdir(parents=True, exist_ok=True)
    settings = mock_settings(ctx.scenario, ctx.run_dir / "mock" / "truth.jsonl")
    ctx.mock = start_mock(settings, log_path=ctx.run_dir / "mock" / "mock.log")
    log.info("chatbench: started the embedded mock at %s", ctx.mock.url)
    probe_before_load(ctx.scenario, str(ctx.mock.url), not ctx.options.get("no_probe"))
    return str(ctx.mock.url)


def _finish_stream(ctx: LoadContext) -> None:
    """Every load generator's records are written (or its loss is named); once per run."""
    if ctx.finished:
        return
    ctx.finished = True
    runner = ctx.environment.runner
    if not isinstance(runner, MasterRunner):
        ctx.close()  # the local runner's own stream: its writer is in this process
        return
    if not runner.clients:
        return
    runner.send_message(END_MESSAGE, {"mark": _END_MARK})
    deadline = time.monotonic() + ctx.options["drain_timeout_s"] + 5.0
    while time.monotonic() < deadline:
        pending = _pending_streams(ctx, runner)
        if not pending:
            return
        gevent.sleep(0.05)
    for client_id in _pending_streams(ctx, runner):
        stream = _stream_of(ctx, client_id)
        name = stream.worker if stream is not None else client_id
        log.warning("chatbench: worker %s sent no end of its records within the drain timeout", name)
        if stream is not None and stream.lost_at_s is None:
            stream.lost_at_s = time.time()


def _pending_streams(ctx: LoadContext, runner: Any) -> list[str]:
    """Client ids of live workers whose records are not complete up to the end mark."""
    _check_workers(ctx, runner)
    pending = []
    for client_id, node in runner.clients.items():
        if node.state == STATE_MISSING:
            continue
        stream = _stream_of(ctx, client_id)
        if stream is None or not (stream.complete(_END_MARK) or stream.final):
            pending.append(client_id)
    return pending


def _stream_of(ctx: LoadContext, client_id: str) -> Any:
    assert ctx.collector is not None
    return next((s for s in ctx.collector.streams.values() if s.client_id == client_id), None)


def _check_workers(ctx: LoadContext, runner: Any) -> None:
    """Name a worker whose stream stopped because it went missing (or came back)."""
    assert ctx.collector is not None
    for stream in ctx.collector.streams.values():
        node = runner.clients.get(stream.client_id)
        gone = node is None or node.state == STATE_MISSING
        done = stream.final or stream.complete(_END_MARK)
        if gone and stream.lost_at_s is None and not done:
            stream.lost_at_s = time.time()
            log.warning(
                "chatbench: worker %s is lost (no heartbeat); its records after %s are lost",
                stream.worker,
                time.strftime("%H:%M:%S", time.localtime(stream.last_at_s or time.time())),
            )
        elif not gone and stream.lost_at_s is not None and not ctx.finished:
            log.warning("chatbench: worker %s is back", stream.worker)
            stream.lost_at_s = None


def _watch_workers(ctx: LoadContext, runner: Any) -> None:
    while not ctx.finished:
        gevent.sleep(1.0)
        _check_workers(ctx, runner)


def _end_run(ctx: LoadContext, exit_code: int) -> None:
    """Stop the scraper and the mock, merge the records, finish run.json (the only place that does)."""
    from bench.load.merge import finish_run

    ctx.services.close()  # the server-metrics scraper: a last scrape after the load, then its store
    if ctx.mock is not None:
        ctx.mock.stop()
        ctx.mock = None
    if ctx.run_dir is None or ctx.collector is None:
        return
    ctx.collector.close()
    merged = finish_run(ctx.run_dir, exit_code=exit_code, **ctx.collector.summary())
    if not ctx.options.get("driven"):
        print(
            f"chatbench: {merged.records} records in {ctx.run_dir}; "
            f"make the report with: chatbench report {ctx.run_dir}",
            flush=True,
        )


def _answer_hellos(ctx: LoadContext, runner: Any) -> None:
    """Each worker's hello is answered with the bundle (those that come before it is ready, once it is)."""
    from bench.load.bundle import BUNDLE_MESSAGE, HELLO_MESSAGE

    waiting: list[str] = []

    def welcome(client_id: str) -> None:
        runner.send_message(BUNDLE_MESSAGE, ctx.bundle, client_id=client_id)
        if ctx.last_step is not None:  # a worker set up after the load began missed the step's message
            runner.send_message(STEP_MESSAGE, ctx.last_step, client_id=client_id)

    def hello(environment: Any, msg: Any, **_: Any) -> None:
        if ctx.bundle is None:
            waiting.append(msg.node_id)
        else:
            welcome(msg.node_id)

    def answer_waiting() -> None:
        ctx.ready.wait()
        while waiting:
            welcome(waiting.pop())

    runner.register_message(HELLO_MESSAGE, hello)
    gevent.spawn(answer_waiting)


def _init_master(ctx: LoadContext, runner: Any) -> None:
    from bench.load.bundle import pack

    assert ctx.scenario is not None
    ctx.bundle = pack(ctx.scenario, {"run_id": ctx.run_id, "base_url": ctx.base_url, **ctx.options})
    ctx.ready.set()
    ctx.environment.events.worker_report.add_listener(
        lambda client_id, data, **_: _on_worker_report(ctx, client_id, data)
    )
    gevent.spawn(_watch_workers, ctx, runner)


def _on_worker_report(ctx: LoadContext, client_id: str, data: dict[str, Any]) -> None:
    report = data.get(_REPORT_KEY)
    if report is not None:
        ctx.worker_reports[client_id] = (time.monotonic(), report)


# -- a load generator (a worker, or the local runner) ------------------------------------------------


def _register_load_messages(ctx: LoadContext, runner: Any) -> None:
    runner.register_message(STEP_MESSAGE, lambda environment, msg, **_: _apply_step(ctx, msg.data))

    def ack(environment: Any, msg: Any, **_: Any) -> None:
        if ctx.sink is not None:
            ctx.sink.on_ack(msg.data)

    runner.register_message(ACK_MESSAGE, ack)


def _name_worker(ctx: LoadContext, runner: Any) -> None:
    ctx.worker = f"w{runner.worker_index}"  # the index the master gave when it acknowledged the worker
    ctx.worker_index = max(runner.worker_index, 0)


def _init_worker(ctx: LoadContext, runner: Any) -> None:
    from bench.load.bundle import BUNDLE_MESSAGE, HELLO_MESSAGE, chatbench_version

    _name_worker(ctx, runner)  # here too: the master's start may have come before this (_on_test_start)
    _register_load_messages(ctx, runner)
    runner.register_message(BUNDLE_MESSAGE, lambda environment, msg, **_: _receive_bundle(ctx, msg.data))
    runner.register_message(
        END_MESSAGE, lambda environment, msg, **_: _end_stream(ctx, msg.data), concurrent=True
    )
    env = ctx.environment

    def report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[_REPORT_KEY] = {
            "inflight": ctx.inflight,
            "inflight_by": _inflight_by(ctx),
            "users": env.runner.user_count,
            "started": ctx.started,
            "dropped": ctx.dropped,
            "rows_left": ctx.rows_left,
            "unreachable_since_s": ctx.reachability.since_s,
        }

    env.events.report_to_master.add_listener(report)
    # Added after WorkerRunner's own quitting listener, so it runs first: the last batch leaves before
    # the worker tells the master it quits.
    env.events.quitting.add_listener(lambda environment, **_: ctx.close())

    def say_hello() -> None:  # again until the master answers (it may still be starting)
        while not ctx.ready.is_set():
            runner.send_message(HELLO_MESSAGE, {"chatbench": chatbench_version()})
            ctx.ready.wait(5.0)

    gevent.spawn(say_hello)


def _receive_bundle(ctx: LoadContext, data: dict[str, Any]) -> None:
    from bench.load.bundle import unpack
    from bench.tokens import load_tokenizer

    if ctx.scenario is not None:
        return  # an answer to a repeated hello
    try:
        scenario, run, folder = unpack(data)
        counter = load_tokenizer(scenario.target.tokenizer) if scenario.target.tokenizer else None
    except ChatbenchError as exc:
        _fail(str(exc))
    ctx.scenario, ctx.token_counter, ctx.workdir = scenario, counter, folder
    ctx.run_id = str(run.get("run_id") or "")
    ctx.base_url = ctx.base_url or run.get("base_url")
    ctx.options = {
        "drain_timeout_s": run.get("drain_timeout_s", 60.0),
        "step_label": run.get("step_label", -1),
    }
    ctx.ready.set()
    log.info("chatbench: worker got scenario %s from the master", scenario.name)


def _end_stream(ctx: LoadContext, data: dict[str, Any]) -> None:
    """The master's end of the run: stop the users (gracefully), then send the end-of-stream mark."""
    runner = ctx.environment.runner
    if runner.user_count:
        runner.stop()
    ctx.open()
    assert ctx.sink is not None
    ctx.sink.flush(mark=int(data.get("mark", _END_MARK)))


def _apply_step(ctx: LoadContext, data: dict[str, Any]) -> None:
    if not ctx.run_id and data.get("run_id"):
        ctx.run_id = data["run_id"]
    if ctx.base_url is None and data.get("base_url"):
        ctx.base_url = data["base_url"]
    label = ctx.options.get("step_label", -1)
    ctx.step = StepInfo(
        step=label if label >= 0 else int(data.get("step", 0)),
        rate_rps=data.get("rate_rps"),
        sources=int(data.get("sources", 1)),
        draining=bool(data.get("draining", False)),
        t0_s=data.get("t0_s"),
    )
    share = data.get("max_requests")
    ctx.max_requests = None if share is None else int(share)


# The collector's thresholds in a load generator. With Python's (700, 10, 10), 512 paced streams
# (22k chunks/s) made 300 young, 26 middle (about 4 ms each) and 3 full collections (about 30 ms
# each, every stream stalled) in 25 s, 0.38 s in all; with these, 5 young (about 5 ms) and no full
# one in the same run, 0.07 s. Garbage in cycles (tracebacks, greenlets) is still collected.
_GC_THRESHOLDS = (20_000, 20, 100)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    if getattr(environment, "chatbench", None) is None:
        # A worker: Locust fires init only after it has connected, and a master that starts at once may
        # send its spawn first. The init listener names the worker; its users wait for it; the master
        # resends the step this worker missed when it says hello.
        return
    ctx = load_context(environment)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        _name_worker(ctx, runner)
    elif isinstance(runner, MasterRunner):
        return
    gc.collect()
    gc.freeze()  # what exists now (scenario, prompts, modules) is never scanned again by the GC
    gc.set_threshold(*_GC_THRESHOLDS)


@events.spawning_complete.add_listener
def _on_spawning_complete(**_kw: Any) -> None:
    # The users' own objects (builders, clients) now exist: freeze them too, without a collection
    # (a full collection here would pause streams already in flight).
    gc.freeze()


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    ctx = load_context(environment)
    if ctx.sink is not None:
        ctx.sink.flush()
    runner = environment.runner
    opts = environment.parsed_options
    if isinstance(runner, MasterRunner) and opts is not None and opts.headless:
        _finish_stream(ctx)  # quitting: the master still hears its workers here, not after


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    ctx = load_context(environment)
    if isinstance(environment.runner, WorkerRunner):
        return
    dropped = _arrivals_dropped(ctx)
    if dropped:
        log.warning("open loop: %d arrivals were dropped (in-flight limit reached)", dropped)


def _arrivals_dropped(ctx: LoadContext) -> int:
    """Open-loop arrivals not sent because a process's in-flight pool was full, over every process,
    since the run began (the shape reads it after the drain, when no arrival comes and the workers'
    reports are fresh, and subtracts what a web-UI run's earlier tests dropped)."""
    return ctx.dropped + sum(int(r.get("dropped") or 0) for _, r in ctx.worker_reports.values())


def _start_progress(ctx: LoadContext, interval_s: float) -> None:
    from bench.live import subscribe
    from bench.live.progress import start_progress

    scenario = ctx.scenario
    assert scenario is not None
    stages = len(scenario.load.stages)

    def phase() -> str:
        if ctx.step.draining:
            return "draining"
        label = ctx.options.get("step_label", -1)
        if label is not None and label >= 0:
            return f"step {label}"
        return f"stage {ctx.step.step + 1}/{stages}" if stages > 1 else ""

    start_progress(
        ctx.environment,
        interval_s,
        planned_s=scenario.load.total_duration_s,
        in_flight=lambda: _inflight(ctx),
        phase=phase,
        subscribe=lambda callback: subscribe(ctx.environment, callback),
    )


class ScenarioShape(LoadTestShape):
    """Walks ``scenario.load.stages``, then drains (0 users until nothing is in flight), then stops."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._step = -1
        self._drain_started: float | None = None
        self._settle_until: float | None = None
        self._unreachable_since_s: float | None = None  # set when the circuit breaker stopped the run
        self._overran = False  # a trace ran past its planned stage to send every row
        self._planned_end: float | None = None  # monotonic clock when the planned stages ended
        self._dropped_before = 0  # arrivals dropped by earlier tests of this run (the web UI's restarts)

    @property
    def ctx(self) -> LoadContext:
        assert self.runner is not None
        return load_context(self.runner.environment)

    def reset_time(self) -> None:
        """Locust calls this at every start (the web UI can start a test again): start from stage 0."""
        super().reset_time()
        self._step = -1
        self._drain_started = None
        self._settle_until = None
        self._unreachable_since_s = None
        self._overran = False
        self._planned_end = None
        self._dropped_before = _arrivals_dropped(self.ctx)
        self.ctx.reachability.reset()
        self._note_schedule(reset=True)

    def tick(self) -> tuple[int, float, list[type]] | None:
        scenario = self.ctx.scenario
        assert scenario is not None
        load = scenario.load
        user_class: type = ArrivalUser if load.arrival is not None else ChatUser
        run_time = self.get_run_time()
        index, elapsed = None, 0.0
        for i, stage in enumerate(load.stages):
            elapsed += stage.duration_s
            if run_time < elapsed:
                index = i
                break
        if index is None and self._planned_end is None:
            self._planned_end = time.monotonic()
        if index is None and run_time < load.longest_s and any(self._rows_left()):
            index = len(load.stages) - 1  # a trace not sent in full yet: on past the plan (for_schedule)
            self._overran = True
        if (
            index is not None
            and self._drain_started is None
            and not self._budget_spent()
            and not self._unreachable()
        ):
            stage = load.stages[index]
            sources = self._sources()
            if index != self._step:
                self._step = index
                rate = (stage.rate_rps or load.arrival.rate_rps) if load.arrival is not None else None
                started = time.time()
                self._note_schedule(
                    stage={
                        "index": index,
                        "started_at_s": started,
                        "duration_s": stage.duration_s,
                        "users": stage.users,
                        "spawn_rate": stage.spawn_rate,
                        "rate_rps": rate,
                    }
                )
                self._broadcast(step=index, rate_rps=rate, sources=sources, t0_s=started)
            if load.arrival is not None:
                return sources, float(sources), [user_class]
            return stage.users, stage.spawn_rate, [user_class]
        return self._drain(user_class)

    def _drain(self, user_class: type) -> tuple[int, float, list[type]] | None:
        now = time.monotonic()
        drain_timeout_s = self.ctx.options["drain_timeout_s"]
        if self._drain_started is None:
            self._drain_started = now
            self._note_schedule(
                stopped_at_s=time.time(),
                stop_reason=self._stop_reason(),
                unreachable_since_s=self._unreachable_since_s,
            )
            self._broadcast(step=max(self._step, 0), draining=True, sources=self._sources())
            log.info("chatbench: load done; waiting for the answers in flight")
        if self._settle_until is not None:
            return None if now >= self._settle_until else (0, 100.0, [user_class])
        timed_out = now - self._drain_started > drain_timeout_s
        if self._drained() or timed_out:
            rows_left, silent = self._rows_left()
            if (rows_left or silent) and self._settle_until is None:  # a trace not sent in full
                log.warning("chatbench: %d trace rows were not sent (the load stopped first)", rows_left)
                self._note_schedule(rows_unsent=rows_left, rows_unknown=silent)
            dropped = _arrivals_dropped(self.ctx) - self._dropped_before
            if dropped and self._settle_until is None:
                self._note_schedule(arrivals_dropped=dropped)
            if timed_out:
                log.warning(
                    "chatbench: answers still in flight after the %.0f s drain timeout; they are recorded as cancelled",
                    drain_timeout_s,
                )
            if isinstance(self.runner, MasterRunner):
                self._settle_until = now + _SETTLE_S
                return 0, 100.0, [user_class]
            return None
        return 0, 100.0, [user_class]

    def _stop_reason(self) -> StopReason:
        if self._unreachable_since_s is not None:
            return "target_unreachable"
        if self._budget_spent():
            return "max_requests"
        if self._overran:
            return "trace_overran"  # every row sent, later than planned, or cut at load.longest_s
        return "schedule"

    def _rows_left(self) -> tuple[int, list[str]]:
        """A trace replay's rows not sent yet, summed over the processes that reported since the plan
        ended, and the workers that did not (workers report every 3 s: not done until they say so).
        (0, []) when the load is not a trace."""
        ctx = self.ctx
        runner = self.runner
        assert ctx.scenario is not None
        arrival = ctx.scenario.load.arrival
        if arrival is None or arrival.process != "trace":
            return 0, []
        if not isinstance(runner, MasterRunner):
            return ctx.rows_left or 0, []
        left, silent = 0, []
        for client_id, node in runner.clients.items():
            if node.state == STATE_MISSING:
                continue  # gone: its stream says so
            seen = ctx.worker_reports.get(client_id)
            if seen is None or (self._planned_end is not None and seen[0] < self._planned_end):
                stream = _stream_of(ctx, client_id)
                silent.append(stream.worker if stream is not None else client_id)
            else:
                left += seen[1].get("rows_left") or 0
        return left, silent

    def _unreachable(self) -> bool:
        """The circuit breaker (bench.load.breaker): has every process failed to connect for
        ``target.stop_when_unreachable_s``? Then the run stops early (and drains as usual)."""
        ctx = self.ctx
        assert ctx.scenario is not None
        limit = ctx.scenario.target.stop_when_unreachable_s
        if limit is None:
            return False
        if isinstance(self.runner, MasterRunner):
            since = unreachable_since(r.get("unreachable_since_s") for _, r in ctx.worker_reports.values())
        else:
            since = ctx.reachability.since_s
        now = time.time()
        if since is None or now - since < limit:
            return False
        self._unreachable_since_s = since
        from_s = since - (now - self.get_run_time())
        log.warning(
            "chatbench: target unreachable from %.1f s (no connection for %.0f s); stopping the run early",
            max(from_s, 0.0),
            now - since,
        )
        return True

    def _note_schedule(self, **event: Any) -> None:
        """The offered load's schedule into run.json (the analysis's window comes from it)."""
        run_dir = self.ctx.run_dir
        if run_dir is None:
            return
        from bench.load.rundir import note_schedule

        try:
            note_schedule(run_dir, **event)
        except OSError as exc:  # a full disk must not stop the load; the analysis falls back to the plan
            log.warning("chatbench: cannot write the load schedule to run.json: %s", exc)

    def _sources(self) -> int:
        runner = self.runner
        if isinstance(runner, MasterRunner):
            return max(runner.worker_count, 1)
        return 1

    def _budget_spent(self) -> bool:
        ctx = self.ctx
        assert ctx.scenario is not None
        limit = ctx.scenario.load.max_requests
        if limit is None:
            return False
        started = ctx.started + sum(r.get("started", 0) for _, r in ctx.worker_reports.values())
        return started >= limit

    def _drained(self) -> bool:
        runner = self.runner
        ctx = self.ctx
        assert self._drain_started is not None and runner is not None
        if not isinstance(runner, MasterRunner):
            return runner.user_count == 0 and ctx.inflight == 0
        # A worker gone missing (Locust's heartbeat) has nothing more to say: do not wait for it.
        clients = [cid for cid, node in runner.clients.items() if node.state != STATE_MISSING]
        for client_id in clients:
            seen = ctx.worker_reports.get(client_id)
            if seen is None or seen[0] <= self._drain_started:
                return False
            if seen[1].get("inflight", 0) or seen[1].get("users", 0):
                return False
        return True

    def _broadcast(self, **step: Any) -> None:
        ctx = self.ctx
        assert ctx.scenario is not None
        data: dict[str, Any] = {"run_id": ctx.run_id, "base_url": ctx.base_url, **step}
        limit = ctx.scenario.load.max_requests
        if limit is not None:
            sources = max(int(step.get("sources", 1)), 1)
            # Each process gets an equal share; the shape also stops when the total is reached.
            data["max_requests"] = -(-limit // sources)
        if isinstance(self.runner, MasterRunner):
            _apply_step(ctx, data)
        ctx.last_step = data
        assert self.runner is not None
        self.runner.send_message(STEP_MESSAGE, data)
