"""What one Locust process shares between its users and listeners: the scenario, the record stream, the counters.

Each Locust process (the local runner, the master, each distributed worker) has exactly one
``LoadContext``, made by the locustfile's ``init`` listener and kept on Locust's ``Environment``
(``load_context(environment)``), so two environments in one process never share state. The master
(or the local runner) decides the run and the target URL and sends them, with the current load step,
to every worker in a ``chatbench_step`` message. Records leave each load generator through its
``RecordSender`` (``bench.load.stream``) for the run's one writer, the master's or local runner's
``RecordCollector``, which publishes them on the record hub (``bench.load.hub``).

``execute`` is the one place where a request is sent, counted in flight, turned into a ``Record``,
handed to the record stream, and shown in Locust's live statistics (one request event per request:
``E2E`` rows for successful requests, ``failed`` rows for the others).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event

from bench.load.breaker import Reachability
from bench.load.client import ChatClient, ClientSettings, Exchange, new_request_id
from bench.load.monitor import Monitor
from bench.load.stream import RecordCollector, RecordSender
from bench.records import Record
from bench.scenario.model import Scenario
from bench.scenario.plan import RequestPlan
from bench.tokens import TokenCounter

__all__ = ["LoadContext", "StepInfo", "load_context"]

log = logging.getLogger("chatbench")


@dataclass
class StepInfo:
    """The load step the master says we are in (sent in ``chatbench_step`` messages)."""

    step: int = 0
    rate_rps: float | None = None  # open loop: the total arrival rate of the step
    sources: int = 1  # open loop: arrival users across all processes
    draining: bool = False
    t0_s: float | None = None  # wall clock when the step started (the master's clock)


@dataclass
class LoadContext:
    """Per-process state; see the module docstring."""

    scenario: Scenario | None = None
    run_id: str = ""
    run_dir: Path | None = None  # on the master or the local runner: where the run is written
    base_url: str | None = None
    worker: str = "local"
    worker_index: int = 0
    environment: Any = None
    token_counter: TokenCounter | None = None
    step: StepInfo = field(default_factory=StepInfo)
    inflight: int = 0
    inflight_by: dict[tuple[str, bool], int] = field(default_factory=dict)  # (prompt set, stream) -> n
    started: int = 0  # requests sent by this process
    dropped: int = 0  # open-loop arrivals not sent because the in-flight pool was full
    rows_left: int | None = None  # a trace replay: this process's rows not sent yet (bench.load.replay)
    max_requests: int | None = None  # this process's share of load.max_requests
    sink: RecordSender | None = None
    monitor: Monitor | None = None
    collector: RecordCollector | None = None  # the run's one writer: on the master or the local runner
    worker_reports: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)  # master
    options: dict[str, Any] = field(default_factory=dict)  # drain_timeout_s, step_label (master's)
    ready: Event = field(default_factory=Event)  # set once the scenario is known (a worker: from the master)
    workdir: Path | None = None  # a worker's private folder for the files the master sent
    mock: Any = None  # the embedded mock's handle, when this process started it
    services: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)  # e.g. the metrics scraper
    last_step: dict[str, Any] | None = None  # the master's: the step it last sent the workers
    bundle: dict[str, Any] | None = None  # the master's: what it sends each worker (bench.load.bundle)
    finished: bool = False  # the end of every record stream was waited for
    reachability: Reachability = field(
        default_factory=Reachability
    )  # the circuit breaker's view (breaker.py)
    _users: int = 0

    # -- setup ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Start this process's record stream and monitor (once the worker name is known)."""
        if self.sink is not None:
            return
        runner = self.environment.runner if self.environment is not None else None
        if runner is None:
            raise RuntimeError("the load context has no runner (the locustfile's init listener did not run)")
        from bench.load.stream import RECORDS_MESSAGE

        self.sink = RecordSender(lambda msg: runner.send_message(RECORDS_MESSAGE, msg), self.worker)
        self.monitor = Monitor(self.sink.monitor_sample, self.worker)
        self.monitor.start()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Block until the scenario is known (on a worker it comes from the master after it connects)."""
        if not self.ready.wait(timeout_s):
            raise RuntimeError(f"no scenario from the master within {timeout_s:g} s")

    def close(self) -> None:
        """Stop the monitor and send the last records (idempotent)."""
        if self.monitor is not None:
            self.monitor.stop()
        if self.sink is not None:
            self.sink.close()
        if self.workdir is not None:
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def next_user_index(self) -> int:
        self._users += 1
        return self._users - 1

    def new_client(self, concurrency: int) -> ChatClient:
        scenario = self.scenario
        assert scenario is not None and self.base_url is not None
        t = scenario.target
        settings = ClientSettings(
            base_url=self.base_url,
            path=t.path,
            headers={k: v for k, v in t.request_headers().items() if k.lower() != "content-type"},
            connect_timeout_s=t.timeouts.connect_s,
            first_byte_timeout_s=t.timeouts.first_byte_s,
            total_timeout_s=t.timeouts.total_s,
            concurrency=concurrency,
            resend=t.resend,
        )
        return ChatClient(settings, self.token_counter)

    def budget_left(self) -> bool:
        """False once this process has sent its share of ``load.max_requests``."""
        return self.max_requests is None or self.started < self.max_requests

    # -- one request ---------------------------------------------------------------------------

    def execute(
        self,
        client: ChatClient,
        plan: RequestPlan,
        *,
        user: int,
        scheduled_mono_s: float | None = None,
        scheduled_at_s: float | None = None,
    ) -> Exchange:
        """Send ``plan``, write its record, log it to Locust's stats; returns the exchange.

        Never raises, except ``GreenletExit`` (the run is stopping this greenlet), which is re-raised
        after the ``cancelled`` record is written.
        """
        step = self.step.step
        sent: list[Exchange] = []
        group = (plan.prompt_set, plan.stream)
        by = self.inflight_by

        def on_sent(ex: Exchange) -> None:
            sent.append(ex)
            self.inflight += 1
            by[group] = by.get(group, 0) + 1
            self.started += 1

        ex: Exchange | None = None
        try:
            ex = client.send(
                plan.body,
                stream=plan.stream,
                on_sent=on_sent,
                cancel_after_s=plan.cancel_after_s,
                cancel_after_tokens=plan.cancel_after_tokens,
            )
        except gevent.GreenletExit:
            # client.send marked the exchange cancelled before re-raising: still record it
            ex = sent[0] if sent else None
            raise
        except Exception as exc:  # pragma: no cover - client.send catches everything else
            ex = sent[0] if sent else Exchange(request_id=new_request_id(), stream=plan.stream)
            ex.fail("client_error", f"{type(exc).__name__}: {exc}")
        finally:
            if sent:
                self.inflight -= 1
                by[group] -= 1
            if ex is not None:
                self._record(ex, plan, user, step, scheduled_mono_s, scheduled_at_s)
        return ex

    def record_failure(self, user: int, exc: BaseException, plan: RequestPlan | None = None) -> None:
        """An unexpected exception in chatbench's own code (not in a request): a ``client_error`` record."""
        log.error("chatbench bug in user %d: %s: %s", user, type(exc).__name__, exc)
        ex = Exchange(request_id=new_request_id(), stream=plan.stream if plan else False)
        ex.started_at_s, ex.start_mono_s = time.time(), time.perf_counter()
        ex.fail("client_error", f"{type(exc).__name__}: {exc}")
        placeholder = RequestPlan(
            body={}, stream=False, sampling={}, prompt_set="", prompt_id="", turn=0, messages=()
        )
        self._record(ex, plan or placeholder, user, self.step.step, None, None)

    def _record(
        self,
        ex: Exchange,
        plan: RequestPlan,
        user: int,
        step: int,
        scheduled_mono_s: float | None,
        scheduled_at_s: float | None,
    ) -> None:
        try:
            self._write(ex, plan, user, step, scheduled_mono_s, scheduled_at_s)
        except Exception as exc:  # never let bookkeeping end a user loop
            log.error("chatbench could not record request %s: %s: %s", ex.request_id, type(exc).__name__, exc)

    def _write(
        self,
        ex: Exchange,
        plan: RequestPlan,
        user: int,
        step: int,
        scheduled_mono_s: float | None,
        scheduled_at_s: float | None,
    ) -> None:
        assert self.scenario is not None
        if self.sink is None:
            self.open()
        assert self.sink is not None
        output_tokens, token_source = ex.output_tokens(self.token_counter)
        sampling: Mapping[str, Any] = plan.sampling
        lag_ms = None
        if scheduled_mono_s is not None and ex.start_mono_s:
            lag_ms = (ex.start_mono_s - scheduled_mono_s) * 1000.0
        record = Record(
            run_id=self.run_id,
            worker=self.worker,
            user=user,
            request_id=ex.request_id,
            scenario=self.scenario.name,
            prompt_set=plan.prompt_set,
            prompt_id=plan.prompt_id,
            turn=plan.turn,
            step=step,
            stream=plan.stream,
            temperature=sampling.get("temperature"),
            top_p=sampling.get("top_p"),
            presence_penalty=sampling.get("presence_penalty"),
            frequency_penalty=sampling.get("frequency_penalty"),
            max_tokens=sampling.get("max_tokens"),
            scheduled_at_s=scheduled_at_s,
            started_at_s=ex.started_at_s or time.time(),
            start_mono_s=ex.start_mono_s,
            client_lag_ms=lag_ms,
            ttft_ms=ex.ttft_ms,
            itl_ms=ex.itl_ms,
            e2e_ms=ex.e2e_ms,
            prompt_tokens=ex.prompt_tokens(plan.messages, self.token_counter),
            output_tokens=output_tokens,
            token_source=token_source,
            chunks=ex.chunks,
            finish_reason=ex.finish_reason,
            status=ex.status,
            error_kind=ex.error_kind,
            error_message=ex.error_message,
            lg_cpu_pct=None if self.monitor is None else self.monitor.latest_cpu_pct,
            attempts=ex.attempts,
            resend_kind=ex.resend_kind,
            resend_at_ms=ex.resend_at_ms,
            connect_ms=ex.connect_ms,
            retry_after_s=ex.retry_after_s,
            ttfo_ms=ex.ttfo_ms,
            cached_tokens=ex.cached_tokens,
            reasoning_tokens=ex.reasoning_tokens,
            reasoning_ms=ex.reasoning_ms,
            chunk_tokens=ex.chunk_tokens,
        )
        self.sink.write(record)
        self._to_locust_stats(record, len(ex.answer.encode()))

    def _to_locust_stats(self, record: Record, answer_bytes: int) -> None:
        """One request event per request, in rows whose meaning is plain in Locust's table.

        Successful requests: type ``E2E``, name the prompt set, response time the E2E ms, size the
        answer's content in UTF-8 bytes. Failed ones: type ``failed``, so their time-to-failure stays out
        of the E2E percentiles, with the error kind (and HTTP status) as the failure's text. The LLM tab
        has the LLM figures (TTFT, TPOT, tokens/s).
        """
        env = self.environment
        if env is None:
            return
        failure = None
        if record.error_kind is not None:
            failure = f"{record.error_kind} (HTTP {record.status})" if record.status else record.error_kind
        env.events.request.fire(
            request_type="E2E" if failure is None else "failed",
            name=record.prompt_set,
            response_time=record.e2e_ms or 0.0,
            response_length=answer_bytes,
            exception=failure,
            context={},
        )


def load_context(environment: Any, wait_s: float = 0.0) -> LoadContext:
    """The ``LoadContext`` the locustfile's ``init`` listener put on this Locust ``Environment``.

    ``wait_s``: how long to wait for it. A worker's users may be made before that listener has run:
    Locust fires ``init`` only after the worker has connected, and the master's start can come first.
    """
    deadline = time.monotonic() + wait_s
    while getattr(environment, "chatbench", None) is None and time.monotonic() < deadline:
        gevent.sleep(0.05)
    ctx = getattr(environment, "chatbench", None)
    if not isinstance(ctx, LoadContext):
        raise RuntimeError("no chatbench load context on this environment (run bench/load/locustfile.py)")
    return ctx


def conversation_messages(plan: RequestPlan, answer: str) -> Sequence[Mapping[str, str]]:
    """The history for the next turn: what was sent plus the server's actual answer."""
    return [*plan.messages, {"role": "assistant", "content": answer}]
