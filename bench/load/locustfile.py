"""The Locust entry point: ``locust -f bench/load/locustfile.py --scenario FILE [Locust flags]``.

``chatbench run`` and ``chatbench ui`` run this file in a Locust subprocess; it also works on its own
with Locust's own flags (``--headless``, ``--processes N``, ``--master``/``--worker``, the web UI).
Custom flags (each with an environment-variable fallback):

    --scenario FILE          CHATBENCH_SCENARIO     the scenario (required)
    --overrides JSON         CHATBENCH_OVERRIDES    scenario overrides, e.g. '{"users": 8}'
    --run-dir DIR            CHATBENCH_RUN_DIR      where records go (default: a new results/<run-id>/)
    --results-dir DIR        CHATBENCH_RESULTS_DIR  parent of new run directories (default: results)
    --drain-timeout S        CHATBENCH_DRAIN_TIMEOUT  longest wait for answers in flight at the end
    --progress-interval S                           print a progress line every S seconds (0: off)
    --driven                                        set by chatbench: it writes run.json and merges

The load follows the scenario through ``ScenarioShape``: one step per ``load.stages`` entry, then a
*drain* step at zero users that lasts until every process reports no request in flight (bounded by
the drain timeout), so answers in flight at the end are recorded even in distributed runs, where
Locust's master waits only 0.5 s after telling workers to quit. ``--stop-timeout`` defaults to the
drain timeout so users stop gracefully after their current answer.
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

from locust import LoadTestShape, events
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from bench.errors import ChatbenchError
from bench.lifeline import watch_gevent
from bench.load.breaker import REACHABILITY, unreachable_since
from bench.load.context import CONTEXT, StepInfo
from bench.load.users import ArrivalUser, ChatUser

__all__ = ["ArrivalUser", "ChatUser", "ScenarioShape"]

log = logging.getLogger("chatbench")
STEP_MESSAGE = "chatbench_step"
_REPORT_KEY = "chatbench"
_SETTLE_S = 3.5  # one worker report interval (3 s) so Locust's own stats get the last results
_worker_reports: dict[str, tuple[float, dict[str, Any]]] = {}
_state: dict[str, Any] = {"drain_timeout_s": 60.0, "mock": None, "driven": False}


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
    group.add_argument("--driven", action="store_true", default=False, help="run by chatbench (internal)")
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
    from bench.scenario.loader import load_scenario
    from bench.tokens import load_tokenizer

    watch_gevent(_parent_gone)  # started by chatbench: end with it, whatever signal ends it
    opts = environment.parsed_options
    if opts is None or not opts.scenario:
        _fail("give the scenario: --scenario FILE (or CHATBENCH_SCENARIO)")
    try:
        overrides = json.loads(opts.overrides) if opts.overrides else {}
        # Locust's own -u/-r/-t mean the same as chatbench's overrides (a shape would ignore them).
        for key, value in (
            ("users", opts.num_users),
            ("spawn_rate", opts.spawn_rate),
            ("duration_s", opts.run_time),
        ):
            if value is not None:
                overrides.setdefault(key, value)
        scenario = load_scenario(opts.scenario, overrides)
        counter = load_tokenizer(scenario.target.tokenizer) if scenario.target.tokenizer else None
    except ChatbenchError as exc:
        _fail(str(exc))
    except json.JSONDecodeError as exc:
        _fail(f"--overrides is not JSON: {exc}")
    CONTEXT.scenario = scenario
    CONTEXT.token_counter = counter
    CONTEXT.environment = environment
    _state["driven"] = bool(opts.driven)
    _state["step_label"] = opts.step_label
    _state["drain_timeout_s"] = opts.drain_timeout or scenario.target.timeouts.total_s
    if isinstance(runner, (WorkerRunner, LocalRunner)):
        runner.register_message(STEP_MESSAGE, _on_step_message)
    if opts.run_dir:
        CONTEXT.run_dir = Path(opts.run_dir)
        CONTEXT.run_id = CONTEXT.run_dir.name
    if isinstance(runner, WorkerRunner):
        CONTEXT.base_url = environment.host or scenario.target.base_url
        return
    # Master or local: decide the run directory and the target; workers hear them in step messages.
    if not environment.stop_timeout:
        environment.stop_timeout = _state["drain_timeout_s"]
    if CONTEXT.run_dir is None:
        from bench.load.rundir import create_run_dir

        CONTEXT.run_dir = create_run_dir(opts.results_dir, scenario.name)
        CONTEXT.run_id = CONTEXT.run_dir.name
    CONTEXT.base_url = environment.host or scenario.target.base_url
    if CONTEXT.base_url is None:
        CONTEXT.base_url = _start_mock(scenario)
    environment.host = CONTEXT.base_url
    if not _state["driven"]:
        from bench.load.rundir import write_run_json, write_scenario_json

        write_scenario_json(CONTEXT.run_dir, scenario)
        write_run_json(CONTEXT.run_dir, run_id=CONTEXT.run_id, target_url=CONTEXT.base_url, command=sys.argv)
        log.info("chatbench: results go to %s", CONTEXT.run_dir)
    if opts.progress_interval > 0:
        _start_progress(environment, opts.progress_interval, scenario)
    if environment.web_ui is not None:
        from bench.live import install

        install(
            environment,
            scenario,
            CONTEXT.run_dir,
            inflight=_inflight,
            driven=_state["driven"],
            target=lambda: CONTEXT.base_url,
        )


def _inflight() -> int:
    """Requests in flight now, in this process and in every worker (as last reported)."""
    return CONTEXT.inflight + sum(r.get("inflight", 0) for _, r in _worker_reports.values())


def _parent_gone() -> None:
    """chatbench is gone (killed): keep what was recorded, send nothing more, exit now."""
    handle = _state.get("mock")
    try:
        CONTEXT.close()
        if handle is not None:
            handle.stop(1.0)
    finally:
        os._exit(1)


def _start_mock(scenario: Any) -> str:
    from bench.load.runner import mock_settings
    from bench.mock.process import start_mock

    assert CONTEXT.run_dir is not None
    (CONTEXT.run_dir / "mock").mkdir(parents=True, exist_ok=True)
    settings = mock_settings(scenario, CONTEXT.run_dir / "mock" / "truth.jsonl")
    handle = start_mock(settings, log_path=CONTEXT.run_dir / "mock" / "mock.log")
    _state["mock"] = handle
    log.info("chatbench: started the embedded mock at %s", handle.url)
    return str(handle.url)


def _apply_step(data: dict[str, Any]) -> None:
    if CONTEXT.run_dir is None and data.get("run_dir"):
        CONTEXT.run_dir = Path(data["run_dir"])
        CONTEXT.run_id = data.get("run_id") or CONTEXT.run_dir.name
    if CONTEXT.base_url is None and data.get("base_url"):
        CONTEXT.base_url = data["base_url"]
    label = _state.get("step_label", -1)
    CONTEXT.step = StepInfo(
        step=label if label >= 0 else int(data.get("step", 0)),
        rate_rps=data.get("rate_rps"),
        sources=int(data.get("sources", 1)),
        draining=bool(data.get("draining", False)),
        t0_s=data.get("t0_s"),
    )
    share = data.get("max_requests")
    CONTEXT.max_requests = None if share is None else int(share)


def _on_step_message(environment: Any, msg: Any, **_kw: Any) -> None:
    _apply_step(msg.data)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        CONTEXT.worker = f"w{runner.worker_index}"
        CONTEXT.worker_index = max(runner.worker_index, 0)
    elif isinstance(runner, MasterRunner):
        return
    gc.collect()
    gc.freeze()  # what exists now (scenario, prompts, modules) is never scanned again by the GC


@events.spawning_complete.add_listener
def _on_spawning_complete(**_kw: Any) -> None:
    # The users' own objects (builders, clients) now exist: freeze them too, without a collection
    # (a full collection here would pause streams already in flight).
    gc.freeze()


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    if CONTEXT.sink is not None:
        CONTEXT.sink.flush()


@events.report_to_master.add_listener
def _on_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    runner = CONTEXT.environment.runner if CONTEXT.environment is not None else None
    data[_REPORT_KEY] = {
        "inflight": CONTEXT.inflight,
        "users": runner.user_count if runner is not None else 0,
        "started": CONTEXT.started,
        "dropped": CONTEXT.dropped,
        "unreachable_since_s": REACHABILITY.since_s,
    }


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    report = data.get(_REPORT_KEY)
    if report is not None:
        _worker_reports[client_id] = (time.monotonic(), report)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    CONTEXT.close()
    if isinstance(environment.runner, WorkerRunner):
        return
    if CONTEXT.dropped or any(r.get("dropped") for _, r in _worker_reports.values()):
        dropped = CONTEXT.dropped + sum(r.get("dropped", 0) for _, r in _worker_reports.values())
        log.warning("open loop: %d arrivals were dropped (in-flight limit reached)", dropped)


@events.quit.add_listener
def _on_quit(exit_code: int, **_kw: Any) -> None:
    handle = _state.get("mock")
    if handle is not None:
        handle.stop()
        _state["mock"] = None
    env = CONTEXT.environment
    if _state["driven"] or env is None or isinstance(env.runner, WorkerRunner) or CONTEXT.run_dir is None:
        return
    from bench.load.merge import merge_records
    from bench.load.rundir import finish_run_json

    if isinstance(env.runner, MasterRunner):
        time.sleep(1.0)  # the workers' last flush (they flush every 0.5 s)
    merged = merge_records(CONTEXT.run_dir)
    finish_run_json(CONTEXT.run_dir, exit_code=exit_code, records=merged.records, errors=merged.errors)
    print(
        f"chatbench: {merged.records} records in {CONTEXT.run_dir}; "
        f"make the report with: chatbench report {CONTEXT.run_dir}",
        flush=True,
    )


def _start_progress(environment: Any, interval_s: float, scenario: Any) -> None:
    from bench.live import subscribe
    from bench.load.progress import start_progress

    stages = len(scenario.load.stages)

    def phase() -> str:
        if CONTEXT.step.draining:
            return "draining"
        label = _state.get("step_label", -1)
        if label is not None and label >= 0:
            return f"step {label}"
        return f"stage {CONTEXT.step.step + 1}/{stages}" if stages > 1 else ""

    start_progress(
        environment,
        interval_s,
        planned_s=scenario.load.total_duration_s,
        in_flight=_inflight,
        phase=phase,
        subscribe=lambda callback: subscribe(environment, callback),
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

    def reset_time(self) -> None:
        """Locust calls this at every start (the web UI can start a test again): start from stage 0."""
        super().reset_time()
        self._step = -1
        self._drain_started = None
        self._settle_until = None
        self._unreachable_since_s = None
        REACHABILITY.reset()
        self._note_schedule(reset=True)

    def tick(self) -> tuple[int, float, list[type]] | None:
        scenario = CONTEXT.scenario
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
        timed_out = now - self._drain_started > _state["drain_timeout_s"]
        if self._drained() or timed_out:
            if timed_out:
                log.warning(
                    "chatbench: answers still in flight after the %.0f s drain timeout; they are recorded as cancelled",
                    _state["drain_timeout_s"],
                )
            if isinstance(self.runner, MasterRunner):
                self._settle_until = now + _SETTLE_S
                return 0, 100.0, [user_class]
            return None
        return 0, 100.0, [user_class]

    def _stop_reason(self) -> str:
        if self._unreachable_since_s is not None:
            return "target_unreachable"
        return "max_requests" if self._budget_spent() else "schedule"

    def _unreachable(self) -> bool:
        """The circuit breaker (bench.load.breaker): has every process failed to connect for
        ``target.stop_when_unreachable_s``? Then the run stops early (and drains as usual)."""
        scenario = CONTEXT.scenario
        assert scenario is not None
        limit = scenario.target.stop_when_unreachable_s
        if limit is None:
            return False
        if isinstance(self.runner, MasterRunner):
            since = unreachable_since(r.get("unreachable_since_s") for _, r in _worker_reports.values())
        else:
            since = REACHABILITY.since_s
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
        if CONTEXT.run_dir is None:
            return
        from bench.load.rundir import note_schedule

        try:
            note_schedule(CONTEXT.run_dir, **event)
        except OSError as exc:  # a full disk must not stop the load; the analysis falls back to the plan
            log.warning("chatbench: cannot write the load schedule to run.json: %s", exc)

    def _sources(self) -> int:
        runner = self.runner
        if isinstance(runner, MasterRunner):
            return max(runner.worker_count, 1)
        return 1

    def _budget_spent(self) -> bool:
        scenario = CONTEXT.scenario
        assert scenario is not None
        limit = scenario.load.max_requests
        if limit is None:
            return False
        started = CONTEXT.started + sum(r.get("started", 0) for _, r in _worker_reports.values())
        return started >= limit

    def _drained(self) -> bool:
        runner = self.runner
        assert self._drain_started is not None and runner is not None
        if not isinstance(runner, MasterRunner):
            return runner.user_count == 0 and CONTEXT.inflight == 0
        clients = list(runner.clients.keys())
        if not clients:
            return True
        for client_id in clients:
            seen = _worker_reports.get(client_id)
            if seen is None or seen[0] <= self._drain_started:
                return False
            if seen[1].get("inflight", 0) or seen[1].get("users", 0):
                return False
        return True

    def _broadcast(self, **step: Any) -> None:
        scenario = CONTEXT.scenario
        assert scenario is not None
        data: dict[str, Any] = {
            "run_dir": str(CONTEXT.run_dir) if CONTEXT.run_dir else None,
            "run_id": CONTEXT.run_id,
            "base_url": CONTEXT.base_url,
            **step,
        }
        limit = scenario.load.max_requests
        if limit is not None:
            sources = max(int(step.get("sources", 1)), 1)
            # Each process gets an equal share; the shape also stops when the total is reached.
            data["max_requests"] = -(-limit // sources)
        if isinstance(self.runner, MasterRunner):
            _apply_step(data)
        assert self.runner is not None
        self.runner.send_message(STEP_MESSAGE, data)
