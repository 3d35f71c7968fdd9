"""Run by tests/live/test_web.py in a process of its own (importing Locust monkey-patches the process
with gevent, which the test session must never be): a local runner with a shape and the dashboard on
its web UI (not served), asked through Flask's test client what state Locust's page is told.

    python -m tests.live.page_state DIR start|stop
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gevent
from locust import User, constant, task
from locust.env import Environment
from locust.shape import LoadTestShape

from bench.live.web import LiveDashboard
from bench.scenario.loader import load_scenario
from tests.live.test_dashboard import write_scenario


class _Idle(User):
    wait_time = constant(1)

    @task
    def idle(self) -> None:
        pass


class _Over(LoadTestShape):
    def tick(self) -> None:
        return None


def told(client: Any) -> str:
    return str(client.get("/stats/requests").get_json()["state"])


def start(runner: Any, client: Any) -> None:
    assert told(client) == "ready"  # no test yet
    runner.start_shape()  # what /swarm does; the shape's greenlet has not run yet
    assert runner.state == "ready"
    assert told(client) == "spawning", told(client)
    gevent.sleep(0.2)  # the shape ticks: it has nothing to run, so the test stops
    assert runner.state == "stopped" and runner.shape_greenlet is None
    # the runner's state now, though Locust's cached response (2 s) was made while it was "ready"
    assert told(client) == "stopped", told(client)


def stop(runner: Any, client: Any) -> None:
    for state, shown in (("running", "running"), ("stopping", "running"), ("cleanup", "running")):
        runner.update_state(state)
        assert told(client) == shown, (state, told(client))
    runner.update_state("stopped")
    assert told(client) == "stopped", told(client)


def main(directory: str, case: str) -> None:
    sys.argv = ["locust"]  # Locust's web UI reads its extra options from argv
    env = Environment(user_classes=[_Idle], shape_class=_Over())
    runner = env.create_local_runner()
    web_ui = env.create_web_ui("127.0.0.1", 0, delayed_start=True)
    LiveDashboard(env, load_scenario(write_scenario(Path(directory))), Path(directory))
    try:
        {"start": start, "stop": stop}[case](runner, web_ui.app.test_client())
    finally:
        runner.quit()
    print("ok")


if __name__ == "__main__":
    main(*sys.argv[1:3])
