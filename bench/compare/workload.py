"""What two runs must share for ``compare`` to judge them: the same requests, load model and load level.

A comparison answers "is the candidate server (or build) slower on the same workload". Two runs that
sent different requests, or loaded the server differently, differ for that reason alone, and any
"regression" between them would be a false alarm. From each run's ``scenario.json``:

- **requests**: the prompt sets (name, source, weight, number of conversations, multi-turn, sampling;
  not the file's path, which moves with the checkout), the top-level sampling and the API profile;
- **load model**: closed loop (users) or open loop (arrival rate, with its process);
- **load level**: per stage, the users (closed loop) or the rate (open loop), and the think time.

The scenario's name, seed, target, mock settings and durations may differ (comparing two servers, or
two mock speeds, on one workload is the point). ``differences`` lists, in words, what differs; the
command refuses to judge such runs unless ``--force`` is given, and then says so in its verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["differences", "load_level", "load_model"]


def load_model(scenario: Mapping[str, Any]) -> str | None:
    """``"closed loop"`` or ``"open loop (poisson)"``; None when the scenario has no load block."""
    load = scenario.get("load")
    if not isinstance(load, Mapping):
        return None
    arrival = load.get("arrival")
    if isinstance(arrival, Mapping):
        return f"open loop ({arrival.get('process', 'poisson')})"
    return "closed loop"


def load_level(scenario: Mapping[str, Any]) -> str | None:
    """The load level in words: ``4 users, think time 0.1-0.5 s`` or ``5 req/s`` (one entry per stage)."""
    load = scenario.get("load")
    if not isinstance(load, Mapping):
        return None
    stages = [s for s in load.get("stages") or () if isinstance(s, Mapping)]
    open_loop = isinstance(load.get("arrival"), Mapping)
    if open_loop:
        levels = [f"{_num(s.get('rate_rps'))} req/s" for s in stages]
    else:
        levels = [f"{_num(s.get('users'))} users" for s in stages]
    text = " then ".join(levels) or "no stages"
    think = load.get("think_time_s")
    if not open_loop and think not in (None, 0, 0.0):
        text += f", think time {_plain(think)}"
    return text


def _requests(scenario: Mapping[str, Any]) -> Any:
    keep = ("name", "source", "weight", "conversations", "multi_turn", "sampling")
    sets = [{k: s.get(k) for k in keep} for s in scenario.get("prompt_sets") or () if isinstance(s, Mapping)]
    target = scenario.get("target")
    profile = target.get("profile") if isinstance(target, Mapping) else None
    return {"prompt_sets": sets, "sampling": scenario.get("sampling"), "profile": profile}


def differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[str]:
    """What keeps two runs from being compared, one phrase each (empty: they can be compared).

    Runs without a ``scenario.json`` (records only) cannot be checked and give no difference.
    """
    if not baseline or not candidate:
        return []
    out = []
    if _requests(baseline) != _requests(candidate):
        out.append("the requests differ (prompt sets, sampling or API profile of the scenarios)")
    a_model, b_model = load_model(baseline), load_model(candidate)
    if a_model != b_model:
        out.append(f"the load model differs (baseline {a_model}, candidate {b_model})")
    else:
        a_level, b_level = load_level(baseline), load_level(candidate)
        if a_level != b_level:
            out.append(f"the load level differs (baseline {a_level}, candidate {b_level})")
    return out


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plain(value: Any) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("uniform"), list) and len(value["uniform"]) == 2:
        lo, hi = value["uniform"]
        return f"{_num(lo)}-{_num(hi)} s"
    if isinstance(value, (int, float)):
        return f"{_num(value)} s"
    return str(value)
