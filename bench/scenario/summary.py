"""A human-readable summary of a resolved scenario: what ``chatbench validate`` prints.

Prompt counts per set, prompt lengths in tokens (by the scenario's own counter: its tokenizer file,
else chatbench's rule, which is what the mock reports), the sampling space, the load shape, the
SLOs and the JSON body of one example request.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any

from bench.scenario.builder import RequestBuilder
from bench.scenario.loader import token_counter
from bench.scenario.model import PromptSet, Scenario
from bench.scenario.sampling import SamplingSpec

__all__ = ["describe_scenario", "prompt_token_lengths"]

# Synthetic sets without a fixed pool are summarised from this many generated conversations.
_SYNTHETIC_SAMPLE = 50
_SHOWN_CHARS = 160


def prompt_token_lengths(prompt_set: PromptSet, counter: Callable[[str], int], seed: int = 0) -> list[int]:
    """Tokens of each conversation's first request (all the messages of its first turn)."""
    conversations = prompt_set.source.sample(_SYNTHETIC_SAMPLE, seed, counter, prompt_set.name)
    return [sum(counter(m.get("content") or "") for m in c.turns[0]) for c in conversations]


def _sampling_lines(spec: SamplingSpec, indent: str) -> list[str]:
    lines = [f"{indent}{key}: {value.describe()}" for key, value in spec.params.items()]
    lines.append(f"{indent}stream: {spec.stream.describe()}")
    if spec.grid_keys:
        combos = len(spec.grid_combinations())
        lines.append(f"{indent}grid: {combos} combinations of {', '.join(spec.grid_keys)}, cycled in order")
    return lines


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]}… ({len(value)} characters in all)"
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    return value


def describe_scenario(scenario: Scenario) -> str:
    """The multi-line summary ``chatbench validate`` prints."""
    counter = token_counter(scenario)
    t = scenario.target
    out = [f"scenario {scenario.name!r} ({scenario.path})"]
    if scenario.description:
        out.append(f"  {scenario.description.strip()}")
    where = t.url or f"the embedded mock (path {t.path})"
    out.append(f"target: {where}")
    key_note = f", API key from ${t.api_key_env}" if t.api_key_env else ""
    tok_note = f"tokenizer {t.tokenizer}" if t.tokenizer else "chatbench's token rule"
    out.append(f"  model {t.model!r}, profile {t.profile}{key_note}; prompt tokens counted by {tok_note}")
    if t.base_url is None and scenario.mock:
        out.append(f"  mock settings: {json.dumps(dict(scenario.mock), ensure_ascii=False)}")

    total_weight = sum(s.weight for s in scenario.prompt_sets)
    out.append(f"prompt sets ({len(scenario.prompt_sets)}), seed {scenario.seed}:")
    for s in scenario.prompt_sets:
        lengths = prompt_token_lengths(s, counter, scenario.seed)
        count = (
            f"{len(s.conversations)} conversations"
            if s.conversations
            else f"fresh synthetic prompts (stats of {len(lengths)} samples)"
        )
        turns = [len(c.turns) for c in s.conversations]
        turn_note = f", {min(turns)}-{max(turns)} turns" if turns and max(turns) > 1 else ""
        source = s.source.describe()
        out.append(
            f"  {s.name}: {source}, weight {s.weight:g} ({s.weight / total_weight:.0%}), {count}{turn_note}"
        )
        if lengths:
            out.append(
                f"    first-request prompt tokens: min {min(lengths)}, mean {statistics.fmean(lengths):.1f}, "
                f"median {statistics.median(lengths):g}, max {max(lengths)}"
            )
        tool_convs = sum(1 for c in s.conversations if c.has_tool_turns)
        if tool_convs and not t.api.stream_with_tools and s.sampling.stream.ratio > 0:
            out.append(
                f"    note: {tool_convs} conversation(s) hold tool turns; the {t.profile} API does not stream "
                "with tools, so they are sent with stream: false"
            )
        if s.own_sampling:
            out.append("    sampling (own block):")
            out.extend(_sampling_lines(s.sampling, "      "))
    out.append("sampling:")
    out.extend(_sampling_lines(scenario.sampling, "  "))

    load = scenario.load
    think = load.think_time()
    think_text = (
        f"{load.think_time_s:g} s"
        if isinstance(load.think_time_s, (int, float))
        else f"{json.dumps(think.to_data())} s"
    )
    out.append(f"load: {load.total_duration_s:g} s in {len(load.stages)} stage(s), think time {think_text}")
    for i, st in enumerate(load.stages):
        rate = f", {st.rate_rps:g} req/s" if st.rate_rps is not None else ""
        out.append(f"  stage {i}: {st.duration_s:g} s, {st.users} users (spawn {st.spawn_rate:g}/s){rate}")
    if load.arrival is not None:
        a = load.arrival
        shape = f"gamma, burstiness {a.burstiness:g}" if a.process == "gamma" else a.process
        cap = f", at most {a.max_inflight} in flight" if a.max_inflight else ""
        out.append(f"  open loop: {a.rate_rps:g} req/s, {shape} arrivals{cap}")
    if load.max_requests is not None:
        out.append(f"  stops after {load.max_requests} requests")
    if load.cancel is not None:
        c = load.cancel
        when = (
            f"{c.after_s:g} s after sending"
            if c.after_s is not None
            else f"after {c.after_tokens} output tokens"
        )
        out.append(f"  cancels {c.share:.0%} of requests {when} (client_cancelled, counted apart)")

    if scenario.slo.empty:
        out.append("slo: none")
    else:
        out.append("slo:")
        for th in scenario.slo.thresholds:
            out.append(f"  {th.metric} {th.stat} <= {th.limit:g}")
        if scenario.slo.error_rate is not None:
            out.append(f"  error_rate <= {scenario.slo.error_rate:g}")
    if scenario.sweep is not None:
        sw = scenario.sweep
        out.append(
            f"sweep: {sw.mode} levels [{', '.join(f'{v:g}' for v in sw.levels)}]; {sw.step_duration_s:g} s per step "
            f"({sw.warmup_s:g} s warm-up); stops at error rate > {sw.stop_error_rate:g} or e2e p95 > "
            f"{sw.stop_latency_factor:g}x the first step's"
        )
    if scenario.planning is not None:
        pl = scenario.planning
        aims = [
            f"{pl.target_users} users" if pl.target_users else "",
            f"{pl.target_rps:g} req/s" if pl.target_rps else "",
        ]
        out.append(
            f"planning: for {' and '.join(a for a in aims if a) or 'the measured peak'}, headroom {pl.headroom:.0%}"
        )

    builder = RequestBuilder(scenario)
    plan = builder.build(builder.next_conversation(), 0, ())
    out.append(f"example request (prompt set {plan.prompt_set!r}, prompt {plan.prompt_id!r}):")
    out.append(f"  POST {t.url or t.path}")
    body = json.dumps(_shorten(dict(plan.body)), ensure_ascii=False, indent=2)
    out.extend("  " + line for line in body.splitlines())
    return "\n".join(out)
