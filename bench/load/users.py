"""The Locust user classes: a closed-loop chat user and an open-loop arrival source.

``ChatUser`` (closed loop): send a request, read the whole answer, think (``load.think_time_s``,
during which Locust may stop the user), again. One Locust task is one *turn*, so a graceful stop
waits for the answer in flight, never for a whole conversation. Multi-turn conversations append the
server's actual answer as the assistant turn before the next user turn; a failed turn ends the
conversation (there is no answer to continue from). After a request that could not connect the user
waits a short, bounded backoff before the next one (``bench.load.breaker``; not think time).

``ArrivalUser`` (open loop): requests start on a schedule whatever the server's speed. Each process
runs one arrival source (the shape asks for as many users as there are processes) at
``rate_rps / sources``; the gaps are exponential (``poisson``), equal (``constant``, every process
on one shared time grid so the merged stream stays evenly spaced) or gamma-distributed
(``gamma``: shape = burstiness, mean gap 1/rate; burstiness 1 is Poisson, below 1 burstier). The
next arrival time is absolute (no drift), and every arrival runs in its own greenlet from a bounded
pool (``arrival.max_inflight``): when the pool is full the arrival is dropped and counted. Each
record carries the scheduled start (``scheduled_at_s``) and how late the request really left
(``client_lag_ms``), so a load generator that cannot keep up is visible. An arrival plays a whole
conversation (its turns back to back).
"""

from __future__ import annotations

import gc
import logging
import math
import random
import time
from typing import Any

import gevent
from gevent.pool import Pool
from locust import User, task

from bench.load.breaker import Backoff
from bench.load.client import ChatClient, Exchange
from bench.load.context import LoadContext, conversation_messages, load_context
from bench.load.replay import Replay
from bench.scenario.builder import RequestBuilder
from bench.scenario.plan import Conversation, Message

__all__ = ["ArrivalUser", "ChatUser"]

log = logging.getLogger("chatbench")
_SEED_STRIDE = 100_000  # user seeds: scenario.seed + worker_index * stride + user index
_DEFAULT_MAX_INFLIGHT = 1000
_START_SPREAD_S = 1.0  # Locust spawns a second's worth of users at once: spread them over that second


def _user_seed(ctx: LoadContext, index: int) -> int:
    assert ctx.scenario is not None
    return ctx.scenario.seed + ctx.worker_index * _SEED_STRIDE + index


class ChatUser(User):
    """Closed loop: one conversation turn per task, think time between turns."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.ctx = ctx = load_context(environment, wait_s=60.0)
        ctx.wait_ready()
        ctx.open()
        assert ctx.scenario is not None
        self.index = ctx.next_user_index()
        self.builder = RequestBuilder(ctx.scenario, seed=_user_seed(ctx, self.index))
        self.chat_client: ChatClient = self.ctx.new_client(concurrency=1)
        self._think = ctx.scenario.load.think_time()
        self._think_rng = random.Random(f"{self.builder.seed}:think")
        self._conversation: Conversation | None = None
        self._turn = 0
        self._history: list[Message] = []
        self._backoff = Backoff()
        gc.freeze()  # keep this user's long-lived objects out of the collector's full passes

    def on_start(self) -> None:
        # Locust starts the users of one spawn tick at the same instant; identical closed-loop requests
        # then stay in lock-step for the whole run (all chunks due in the same millisecond), which put
        # E2E p99 timing error at 10 ms at 256 streams. A random offset within the tick spreads them.
        gevent.sleep(self._think_rng.uniform(0.0, _START_SPREAD_S))

    def wait_time(self) -> float:
        if not self.ctx.budget_left():
            return 1.0
        return max(0.0, float(self._think.sample(self._think_rng)))

    @task
    def chat_turn(self) -> None:
        if not self.ctx.budget_left():
            return
        try:
            ex = self._one_turn()
        except Exception as exc:  # a bug in chatbench: a client_error record, never a dead user loop
            self.ctx.record_failure(self.index, exc)
            self._conversation = None
            gevent.sleep(1.0)  # a bug that repeats must not spin
            return
        wait_s = self._backoff.after(ex.error_kind)
        if wait_s:
            gevent.sleep(wait_s)  # the target refused the connection: do not hammer it

    def _one_turn(self) -> Exchange:
        if self._conversation is None or self._turn >= len(self._conversation.turns):
            self._conversation, self._turn, self._history = self.builder.next_conversation(), 0, []
        plan = self.builder.build(self._conversation, self._turn, self._history)
        ex = self.ctx.execute(self.chat_client, plan, user=self.index)
        self.ctx.reachability.saw(ex.error_kind, ex.started_at_s)
        if ex.ok and self._turn + 1 < len(self._conversation.turns):
            self._history = list(conversation_messages(plan, ex.answer))
            self._turn += 1
        else:
            self._conversation = None
        return ex

    def on_stop(self) -> None:
        self.chat_client.close()


class ArrivalUser(User):
    """Open loop: one arrival source per process; each arrival in its own pooled greenlet."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.ctx = ctx = load_context(environment, wait_s=60.0)
        ctx.wait_ready()
        ctx.open()
        scenario = ctx.scenario
        assert scenario is not None and scenario.load.arrival is not None
        self.arrival = scenario.load.arrival
        self.index = ctx.next_user_index()
        self.builder = RequestBuilder(scenario, seed=_user_seed(ctx, self.index))
        sources = max(self.ctx.step.sources, 1)
        size = max(1, (self.arrival.max_inflight or _DEFAULT_MAX_INFLIGHT) // sources)
        self.pool = Pool(size)
        self.chat_client = self.ctx.new_client(concurrency=size)
        self._rng = random.Random(f"{self.builder.seed}:arrivals")
        self._wall_offset = time.time() - time.perf_counter()  # wall = perf_counter + offset (one host)
        self._step = self.ctx.step.step
        self._replay: Replay | None = None
        if self.arrival.process == "trace":  # the prompt set's own schedule (bench.load.replay)
            self._replay = Replay(
                scenario.prompt_sets[0].conversations,
                index=self.ctx.worker_index,
                sources=sources,
                t0_wall_s=self.ctx.step.t0_s,
            )
            ctx.rows_left = self._replay.left
        self._next_mono = self._first_arrival()
        gc.freeze()  # keep this user's long-lived objects out of the collector's full passes

    def _first_arrival(self) -> float:
        """When this source's next arrival is due (perf_counter seconds).

        Constant arrivals sit on one grid shared by every process: the step's start time (sent by the
        master, wall clock) plus ``(k + worker_index / sources) / rate_per_source``, so the merged stream
        stays evenly spaced however late each process started. Other processes simply start now.
        """
        now = time.perf_counter()
        if self._replay is not None:
            due = self._replay.due_s()
            return now + 3600.0 if due is None else due
        t0_s = self.ctx.step.t0_s
        if self.arrival.process != "constant" or t0_s is None:
            return now
        rate = self._rate()
        sources = max(self.ctx.step.sources, 1)
        anchor = t0_s - self._wall_offset + (self.ctx.worker_index % sources) / (rate * sources)
        k = max(0, math.ceil((now - anchor) * rate))
        return anchor + k / rate

    def _rate(self) -> float:
        """This source's rate: the step's total rate split over the sources, in requests/s."""
        total = self.ctx.step.rate_rps or self.arrival.rate_rps
        return max(total / max(self.ctx.step.sources, 1), 1e-9)

    def _gap_s(self) -> float:
        rate = self._rate()
        if self.arrival.process == "constant":
            return 1.0 / rate
        if self.arrival.process == "gamma":
            shape = self.arrival.burstiness
            return self._rng.gammavariate(shape, 1.0 / (rate * shape))
        return self._rng.expovariate(rate)

    def wait_time(self) -> float:
        return max(0.0, self._next_mono - time.perf_counter())

    @task
    def arrive(self) -> None:
        if self._replay is not None:
            self._arrive_replay(self._replay)
            return
        if self.ctx.step.step != self._step:  # a new stage: its rate (and grid) from now on
            self._step = self.ctx.step.step
            self._next_mono = self._first_arrival()
        scheduled = self._next_mono
        gevent.sleep(max(0.0, scheduled - time.perf_counter()))  # the first task runs without a wait
        self._next_mono += self._gap_s()
        if not self.ctx.budget_left():
            return
        if self.pool.full():
            self.ctx.dropped += 1
            if self.ctx.dropped in (1, 10, 100, 1000) or self.ctx.dropped % 10000 == 0:
                log.warning(
                    "open loop: %d arrivals dropped so far (%d requests in flight is the limit; "
                    "raise load.arrival.max_inflight or add --processes)",
                    self.ctx.dropped,
                    self.pool.size,
                )
            return
        self.pool.spawn(self._play, scheduled)

    def _arrive_replay(self, replay: Replay) -> None:
        item = replay.pop()
        if item is None:  # this process's share of the trace is sent
            self._next_mono = time.perf_counter() + 3600.0
            return
        scheduled, conversation = item
        gevent.sleep(max(0.0, scheduled - time.perf_counter()))
        self._next_mono = self._first_arrival()
        self.pool.spawn(self._play, scheduled, conversation)  # never dropped: lateness is lag
        self.ctx.rows_left = replay.left  # counted once it is on its way (the shape waits for 0)

    def _play(self, scheduled_mono_s: float, conversation: Conversation | None = None) -> None:
        try:
            self._play_conversation(scheduled_mono_s, conversation)
        except Exception as exc:  # a bug in chatbench: a client_error record, never a dead greenlet
            self.ctx.record_failure(self.index, exc)

    def _play_conversation(self, scheduled_mono_s: float, conversation: Conversation | None = None) -> None:
        if conversation is None:
            conversation = self.builder.next_conversation()
        history: list[Message] = []
        for turn in range(len(conversation.turns)):
            plan = self.builder.build(conversation, turn, history)
            first = turn == 0
            ex = self.ctx.execute(
                self.chat_client,
                plan,
                user=self.index,
                scheduled_mono_s=scheduled_mono_s if first else None,
                scheduled_at_s=scheduled_mono_s + self._wall_offset if first else None,
            )
            self.ctx.reachability.saw(ex.error_kind, ex.started_at_s)
            if not ex.ok:
                return
            history = list(conversation_messages(plan, ex.answer))

    def on_stop(self) -> None:
        # Let the arrivals in flight finish (bounded by the stop timeout Locust applies to us);
        # if we are killed while waiting, kill them so each still writes its `cancelled` record.
        try:
            self.pool.join()
        except gevent.GreenletExit:
            self.pool.kill(block=True, timeout=5)
            raise
        finally:
            self.chat_client.close()
