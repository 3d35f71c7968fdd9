"""Run one load test: scenario in, results directory out. No gevent here: Locust runs in a subprocess.

``run_load`` is what ``chatbench run``, ``chatbench ui`` and the capacity sweep call:

1. load the scenario with the overrides (a ``ScenarioError`` reaches the CLI: one line, exit 2);
2. probe a real target before any load (``probe_scenario``): ``GET /v1/models`` and one chat
   request of the scenario catch a server that is not there, a wrong model, a wrong path or an
   authentication error; the server's own message becomes a ``TargetError`` (one line, exit 2);
   then create ``results/<run-id>/``;
3. run ``python -m locust -f bench/load/locustfile.py --headless ...`` and wait (hard timeout:
   duration + drain + margin); Ctrl-C stops Locust gracefully and what was recorded is kept;
4. read what the run left in ``run.json``.

Everything else happens in the one place that runs every run, driven from here or started as plain
Locust: the locustfile's master (or local runner) starts the embedded mock when the scenario has no
target (its ground truth in ``mock/truth.jsonl``, probed the same way), scrapes the server's ``/metrics`` in a process of
its own (``bench.servermetrics``), writes ``scenario.json`` and ``run.json`` (with the options given
here), writes the records, merges them and finishes ``run.json``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import ChatbenchError, TargetError, UsageError, error_text
from bench.lifeline import Lifeline
from bench.load.rundir import create_run_dir, read_run_json, update_run_json

__all__ = [
    "LOCUSTFILE",
    "MasterOptions",
    "RunOutcome",
    "mock_settings",
    "probe_before_load",
    "probe_scenario",
    "probe_target",
    "run_load",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_MARGIN_S = 60.0  # on top of duration + drain before the Locust process is stopped by force
_STOP_GRACE_S = 30.0


@dataclass(frozen=True)
class RunOutcome:
    """What a run left behind; everything the report and the SLO gate need."""

    run_id: str
    run_dir: Path
    exit_code: int  # Locust's exit code (0: it ran; records say how the requests went)
    records: int
    errors: int
    target_url: str
    scenario: Any  # the resolved bench.scenario.model.Scenario
    interrupted: bool = False
    truth_log: Path | None = None  # the embedded mock's ground truth, when it was used

    @property
    def records_path(self) -> Path:
        return self.run_dir / "records.parquet"


def probe_target(base_url: str, *, timeout_s: float = 5.0) -> None:
    """Raise ``TargetError`` unless something answers HTTP at ``base_url`` (any status will do)."""
    import httpx

    url = base_url.rstrip("/") + "/v1/models"
    try:
        httpx.get(url, timeout=timeout_s)
    except httpx.ConnectError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else str(exc) or "cannot connect"
        raise TargetError(f"cannot reach {base_url}: {reason}") from None
    except httpx.TimeoutException:
        raise TargetError(f"cannot reach {base_url}: no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot reach {base_url}: {exc}") from None


def probe_scenario(scenario: Any, base_url: str) -> None:
    """Fail fast, before any load, on a target that cannot serve the scenario (``TargetError``).

    1. ``GET /v1/models``: nothing listening is "cannot reach"; 401/403 is an authentication error.
       The model list is only a hint: llama.cpp lists its model file's path yet serves any name, so
       a model missing from the list fails the probe only when step 2 is refused, and the message
       then names the models the list holds. A server without the route (404, not JSON) is fine.
    2. One chat request of the scenario (its first conversation's first turn, sent as a stream so
       the status comes at once; only the headers are read, then the connection is closed). A 4xx
       answer (except 408 and 429, which say "later", not "never") means the load could only fail:
       wrong path, unknown model, rejected body or key. The server's own message is quoted.
    """
    import httpx

    from bench.mock.settings import PROBE_REQUEST_ID
    from bench.scenario.builder import RequestBuilder

    target = scenario.target
    t = target.timeouts
    root = base_url.rstrip("/")
    timeout = httpx.Timeout(t.first_byte_s, connect=t.connect_s)
    headers = {k: v for k, v in target.request_headers().items() if k.lower() != "content-type"}
    with httpx.Client(timeout=timeout, headers=headers) as client:
        try:
            models = client.get(root + "/v1/models")
        except httpx.HTTPError as exc:
            raise TargetError(f"cannot reach {base_url}: {_probe_reason(exc, t.connect_s)}") from None
        if models.status_code in (401, 403):
            raise TargetError(
                f"{root}/v1/models: HTTP {models.status_code}: {error_text(models.content[:2000])} "
                "(check target.api_key_env and target.headers)"
            )
        # The list is a hint, not the verdict: llama.cpp lists its model file's path and serves any
        # name, so only a refused chat request below fails the probe; the list then says what is served.
        served = _model_ids(models)
        unlisted = bool(served) and target.model not in served
        builder = RequestBuilder(scenario)
        plan = builder.build(builder.next_conversation(), 0, [])
        body = {**plan.body, "stream": True}
        url = root + target.path
        extra = {"X-Request-Id": PROBE_REQUEST_ID, "Accept": "text/event-stream"}
        try:
            with client.stream("POST", url, json=body, headers=extra) as answer:
                status = answer.status_code
                text = error_text(answer.read()[:2000]) if status >= 300 else ""
        except httpx.HTTPError as exc:
            raise TargetError(
                f"the probe request to {url} failed: {_probe_reason(exc, t.first_byte_s)}"
            ) from None
        if 400 <= status < 500 and status not in (408, 429):
            hint = (
                f" (the model {target.model!r} is not in GET /v1/models, which lists: "
                f"{', '.join(served[:10])}; set target.model or --model)"
                if unlisted
                else ""
            )
            raise TargetError(
                f"the probe request to {url} was refused before the load: HTTP {status}: {text}{hint}"
            )


def _probe_reason(exc: Exception, limit_s: float) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {limit_s:g} s"
    text = str(exc) or type(exc).__name__
    return "connection refused" if "refused" in text.lower() else text


def _model_ids(response: Any) -> list[str]:
    """The ids of an OpenAI-style model list (empty when the answer is not one)."""
    if response.status_code != 200:
        return []
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        return []
    if not isinstance(data, list):
        return []
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id") is not None]


def probe_before_load(scenario: Any, base_url: str, full: bool = True) -> None:
    """The probe of a target before any load: ``probe_scenario``, or only ``probe_target`` (--no-probe)."""
    if full:
        probe_scenario(scenario, base_url)
    else:
        probe_target(base_url, timeout_s=scenario.target.timeouts.connect_s)


def mock_settings(scenario: Any, truth_log: Path) -> Any:
    """The embedded mock's settings: the scenario's ``mock:`` block on a free port, speaking the target's
    profile and model unless the block says otherwise, logging its ground truth to ``truth_log``."""
    from bench.mock.settings import MockSettings

    settings = MockSettings.from_mapping(scenario.mock)
    given = dict(scenario.mock)
    return replace(
        settings,
        port=0,
        truth_log=str(truth_log),
        profile=given.get("profile", scenario.target.profile),
        model=given.get("model", scenario.target.model),
    )


@dataclass(frozen=True)
class MasterOptions:
    """The master of a run whose load comes from workers on other machines (``chatbench worker``)."""

    expect_workers: int = 1
    bind_host: str = "*"  # Locust's default: every interface
    bind_port: int = 5557  # Locust's default master port
    workers_wait_s: float = 300.0  # the run gives up when the workers have not all connected by then


class _Stop(Exception):
    """SIGTERM arrived: stop the run like Ctrl-C."""


def run_load(
    scenario_path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    *,
    results_dir: str | os.PathLike[str] = "results",
    run_id: str | None = None,
    processes: int = 0,
    web_ui: bool = False,
    web_host: str = "127.0.0.1",
    web_port: int = 8089,
    extra_locust_args: Sequence[str] = (),
    step: int | None = None,
    drain_timeout_s: float | None = None,
    progress: bool = True,
    on_ready: Any = None,
    probe: bool = True,
    master: MasterOptions | None = None,
) -> RunOutcome:
    """Run the scenario once (see the module docstring); returns what the run left behind.

    ``step`` labels every record of this run with that step index (the capacity sweep's level);
    ``on_ready(url)`` is called with the dashboard URL in web-UI mode; ``probe=False`` skips the
    pre-load probe request (``probe_target`` still checks that something answers); ``master`` makes
    this run the master of workers on other machines (it then needs a target: ``--host``).
    """
    from bench.scenario.loader import load_scenario

    overrides = dict(overrides or {})
    scenario = load_scenario(scenario_path, overrides)
    if master is not None and scenario.target.base_url is None:
        raise UsageError(
            "--master: the embedded mock serves this machine only (127.0.0.1), and workers on other "
            "machines cannot reach it; give the server under test with --host URL (to try it out, start "
            "`chatbench mock --host 0.0.0.0` on a machine the workers reach and pass its URL)"
        )
    if scenario.target.base_url is not None:  # fail before leaving an empty run directory behind
        probe_before_load(scenario, scenario.target.base_url, probe)
    run_dir = create_run_dir(Path(results_dir), scenario.name, run_id)
    drain_s = drain_timeout_s if drain_timeout_s is not None else scenario.target.timeouts.total_s
    command = _locust_command(
        scenario_path, overrides, run_dir, scenario.target.base_url, processes, web_ui, web_host, web_port,
        drain_s, step,
    )  # fmt: skip
    if not probe:
        command.append("--no-probe")
    if master is not None:
        command += [
            "--master",
            "--expect-workers",
            str(master.expect_workers),
            "--expect-workers-max-wait",
            f"{master.workers_wait_s:g}",
            "--master-bind-host",
            master.bind_host,
            "--master-bind-port",
            str(master.bind_port),
        ]
    command += list(extra_locust_args)
    options = {
        "command": sys.argv,
        "overrides": overrides,
        "processes": processes,
        "web_ui": web_ui,
        "drain_timeout_s": drain_s,
        "step": step,
        "master": None if master is None else asdict(master),
        "locust_command": command,
    }
    command += ["--driven", "--run-options", json.dumps(options)]
    limit_s = None if web_ui else scenario.load.longest_s + drain_s + _MARGIN_S
    if limit_s is not None and master is not None:
        limit_s += master.workers_wait_s
    if web_ui and on_ready is not None:
        on_ready(f"http://{web_host}:{web_port}")
    exit_code, interrupted = _run_locust(command, limit_s, progress)
    info = read_run_json(run_dir)
    if not info:
        if not (run_dir / "records").exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing ran: leave no empty run directory
        raise ChatbenchError(f"Locust could not start the run (exit code {exit_code}); its message is above")
    if info.get("ended_at_s") is None:  # Locust was killed before it could finish the run itself
        from bench.load.merge import finish_run

        finish_run(run_dir, exit_code=exit_code)
    update_run_json(run_dir, interrupted=interrupted)
    info = read_run_json(run_dir)
    truth = run_dir / "mock" / "truth.jsonl"
    return RunOutcome(
        run_id=run_dir.name,
        run_dir=run_dir,
        exit_code=exit_code,
        records=int(info.get("records") or 0),
        errors=int(info.get("errors") or 0),
        target_url=str(info.get("target_url") or ""),
        scenario=scenario,
        interrupted=interrupted,
        truth_log=truth if truth.is_file() else None,
    )


def _locust_command(
    scenario_path: str | os.PathLike[str],
    overrides: Mapping[str, Any],
    run_dir: Path,
    base_url: str | None,
    processes: int,
    web_ui: bool,
    web_host: str,
    web_port: int,
    drain_s: float,
    step: int | None,
) -> list[str]:
    (run_dir / "locust").mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--scenario",
        str(scenario_path),
        "--run-dir",
        str(run_dir),
        "--drain-timeout",
        str(drain_s),
        "--stop-timeout",
        f"{math.ceil(drain_s)}s",
        "--exit-code-on-error",
        "0",  # failed requests are data; the SLO gate decides the verdict
        "--json-file",
        str(run_dir / "locust" / "stats"),
        "--loglevel",
        "WARNING",
    ]
    if base_url is not None:  # else the run starts the embedded mock
        command += ["--host", base_url]
    if overrides:
        command += ["--overrides", json.dumps(overrides)]
    if step is not None:
        command += ["--step-label", str(step)]
    if web_ui:
        command += ["--web-host", web_host, "--web-port", str(web_port)]
    else:
        command += ["--headless", "--only-summary", "--progress-interval", "5"]
    if processes:
        # Distributed on this machine: loopback only, a free port (never Locust's default *:5557).
        port = _free_port()
        command += [
            "--processes",
            str(processes),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(port),
        ]
    return command


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_locust(command: Sequence[str], limit_s: float | None, progress: bool) -> tuple[int, bool]:
    """Run Locust; on Ctrl-C or SIGTERM stop it gracefully. Returns (exit code, interrupted)."""
    stdout = None if progress else subprocess.DEVNULL
    # Its own session, so a terminal's Ctrl-C reaches only chatbench, which stops Locust gracefully;
    # the lifeline stops Locust and its forked workers if chatbench itself is killed (bench.lifeline).
    lifeline = Lifeline()
    proc = subprocess.Popen(list(command), stdout=stdout, start_new_session=True, **lifeline.popen_kwargs())
    lifeline.started()

    def on_term(signum: int, frame: Any) -> None:
        raise _Stop

    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: no handler, Ctrl-C only
        previous = signal.signal(signal.SIGTERM, on_term)
    interrupted = False
    try:
        deadline = None if limit_s is None else time.monotonic() + limit_s
        while proc.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                sys.stderr.write("chatbench: the run overran its time limit; stopping Locust\n")
                interrupted = True
                break
            time.sleep(0.2)
    except (KeyboardInterrupt, _Stop):
        interrupted = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            _stop(proc)
        lifeline.cut()
    code = proc.returncode
    return (130 if interrupted and code in (0, None) else code), interrupted


def _stop(proc: subprocess.Popen[Any]) -> None:
    """SIGINT (Locust stops its users and writes its stats), then SIGTERM, then SIGKILL."""
    for sig, wait_s in ((signal.SIGINT, _STOP_GRACE_S), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
