"""Request bodies: each kind of sampling variation, precedence, profiles, multi-turn plans, determinism."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest

from bench.scenario.builder import RequestBuilder
from bench.scenario.loader import load_scenario
from bench.scenario.plan import SAMPLING_KEYS, Conversation
from bench.tokens import count_tokens

from .conftest import SCENARIOS

ONE_PROMPT = "prompt_sets: [{name: p, inline: [hello]}]\n"


def bodies(scenario, n, seed=None):
    builder = RequestBuilder(scenario, seed)
    return [builder.build(builder.next_conversation(), 0, ()) for _ in range(n)]


def test_fixed_values_are_sent_as_floats_every_time(load):
    s = load(
        ONE_PROMPT + "sampling: {temperature: 1, top_p: 0.9, presence_penalty: 0, frequency_penalty: 0.5}\n"
    )
    for plan in bodies(s, 5):
        assert plan.body["temperature"] == 1.0 and isinstance(plan.body["temperature"], float)
        assert plan.body["top_p"] == 0.9
        assert isinstance(plan.body["presence_penalty"], float)
        assert plan.sampling == {
            "temperature": 1.0,
            "top_p": 0.9,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.5,
            "max_tokens": None,
        }


def test_weighted_choice_follows_the_weights(load):
    s = load(ONE_PROMPT + "sampling: {temperature: {choice: [0.0, 1.0], weights: [3, 1]}}\n")
    counts = Counter(p.body["temperature"] for p in bodies(s, 2000))
    assert set(counts) == {0.0, 1.0}
    assert 0.70 < counts[0.0] / 2000 < 0.80


def test_uniform_range_spreads_within_bounds(load):
    s = load(
        "target: {profile: openai}\n"
        + ONE_PROMPT
        + "sampling: {top_p: {uniform: [0.5, 0.9]}, max_tokens: {uniform: [10, 20]}}\n"
    )
    plans = bodies(s, 500)
    tops = [p.body["top_p"] for p in plans]
    assert all(0.5 <= v <= 0.9 for v in tops) and max(tops) - min(tops) > 0.3
    maxes = {p.body["max_tokens"] for p in plans}
    assert maxes == set(range(10, 21)) and all(isinstance(v, int) for v in maxes)


def test_grid_cycles_through_every_combination_of_all_grid_keys(load):
    s = load(
        ONE_PROMPT + "sampling: {temperature: {grid: [0.0, 0.5, 1.0]}, top_p: {grid: [0.8, 1.0]}, "
        "presence_penalty: {choice: [0.0, 1.0]}}\n"
    )
    plans = bodies(s, 12)
    combos = [(p.body["temperature"], p.body["top_p"]) for p in plans]
    expected = list(itertools.product([0.0, 0.5, 1.0], [0.8, 1.0]))
    assert combos[:6] == expected  # every combination once, in order
    assert combos[6:] == expected  # then again
    # A second user starts one combination further on, so users spread over the grid.
    other = [(p.body["temperature"], p.body["top_p"]) for p in bodies(s, 6, seed=s.seed + 1)]
    assert other == expected[1:] + expected[:1]


def test_stream_true_false_and_ratio(load):
    always = load(ONE_PROMPT + "sampling: {stream: true}\n")
    never = load(ONE_PROMPT + "sampling: {stream: false}\n")
    mixed = load(ONE_PROMPT + "sampling: {stream: {ratio: 0.3}}\n")
    assert all(p.stream and p.body["stream"] is True for p in bodies(always, 50))
    assert all(not p.stream and p.body["stream"] is False for p in bodies(never, 50))
    share = sum(p.stream for p in bodies(mixed, 2000)) / 2000
    assert 0.26 < share < 0.34


def test_set_sampling_overrides_top_level_and_jsonl_line_wins(load):
    s = load(
        """
        sampling: {temperature: 0.1, top_p: 0.5}
        prompt_sets:
          - name: a
            inline: [x]
          - name: b
            jsonl: b.jsonl
            sampling: {temperature: 0.9}
        """,
        files={
            "b.jsonl": '{"prompt": "plain"}\n{"prompt": "own", "sampling": {"temperature": 1.7, "top_p": 0.2}}\n'
        },
    )
    builder = RequestBuilder(s)
    a, b = s.prompt_set("a"), s.prompt_set("b")
    assert a is not None and b is not None
    plan_a = builder.build(a.conversations[0], 0, ())
    assert (plan_a.body["temperature"], plan_a.body["top_p"]) == (0.1, 0.5)
    plan_b = builder.build(b.conversations[0], 0, ())
    assert (plan_b.body["temperature"], plan_b.body["top_p"]) == (0.9, 0.5)
    plan_own = builder.build(b.conversations[1], 0, ())
    assert (plan_own.body["temperature"], plan_own.body["top_p"]) == (1.7, 0.2)
    assert plan_own.sampling["temperature"] == 1.7


def test_prompt_sets_are_chosen_by_weight(load):
    s = load("prompt_sets: [{name: a, weight: 4, inline: [x]}, {name: b, weight: 1, inline: [y]}]\n")
    counts = Counter(p.prompt_set for p in bodies(s, 2000))
    assert 0.75 < counts["a"] / 2000 < 0.85


def test_openai_profile_adds_max_tokens_and_include_usage_only_when_streaming(load):
    s = load(
        "target: {profile: openai}\n"
        + ONE_PROMPT
        + "sampling: {max_tokens: 32, temperature: 0.5, stream: {ratio: 0.5}}\n"
    )
    plans = bodies(s, 100)
    assert {p.stream for p in plans} == {True, False}
    for p in plans:
        assert p.body["max_tokens"] == 32
        assert ("stream_options" in p.body) == p.stream
        if p.stream:
            assert p.body["stream_options"] == {"include_usage": True}
        # Keys the scenario leaves unset are not sent: the server's defaults apply.
        assert "top_p" not in p.body and p.sampling["top_p"] is None


def test_openai_profile_null_means_not_sent(load):
    s = load("target: {profile: openai}\n" + ONE_PROMPT + "sampling: {temperature: null}\n")
    assert "temperature" not in bodies(s, 1)[0].body


def test_same_seed_same_requests_different_seed_different(write_scenario):
    path = SCENARIOS / "chat-mix.yaml"
    a = load_scenario(path, environ={})
    b = load_scenario(path, environ={})
    first = [json.dumps(p.body) for p in bodies(a, 200, seed=5)]
    assert first == [json.dumps(p.body) for p in bodies(b, 200, seed=5)]
    assert first != [json.dumps(p.body) for p in bodies(a, 200, seed=6)]


def test_synthetic_sets_without_pool_are_fresh_but_reproducible():
    s = load_scenario(SCENARIOS / "long-context.yaml", environ={})
    one = [p.body["messages"][-1]["content"] for p in bodies(s, 10, seed=1)]
    again = [p.body["messages"][-1]["content"] for p in bodies(s, 10, seed=1)]
    assert one == again
    assert len(set(one)) > 5


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("tokens", [1, 2, 3, 17, 500, 4096])
def test_synthetic_prompt_length_is_exact_against_the_mock_rule(load, language, tokens):
    s = load(f"prompt_sets: [{{name: s, synthetic: {{language: {language}, prompt_tokens: {tokens}}}}}]\n")
    for plan in bodies(s, 3):
        assert count_tokens(plan.body["messages"][0]["content"]) == tokens


def test_multi_turn_replay_plans_carry_the_live_answers():
    s = load_scenario(SCENARIOS / "multi-turn.yaml", environ={})
    sharegpt = s.prompt_set("sharegpt")
    assert sharegpt is not None
    conversation = next(c for c in sharegpt.conversations if c.prompt_id == "sg-2")
    builder = RequestBuilder(s)
    history: list = []
    sent = []
    for turn in range(len(conversation.turns)):
        plan = builder.build(conversation, turn, history)
        assert plan.turn == turn and plan.prompt_id == "sg-2"
        assert list(plan.body["messages"]) == list(plan.messages)
        sent.append(plan.body["messages"])
        history = [*plan.messages, {"role": "assistant", "content": f"live answer {turn}"}]
    assert [m["role"] for m in sent[2]] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[2][1]["content"] == "live answer 0" and sent[2][3]["content"] == "live answer 1"
    assert sent[2][-1]["content"] == "茶叶博物馆需要预约吗？"
    # The recorded gpt answers of the ShareGPT file are never sent.
    assert not any("浙江省博物馆" in m["content"] for msgs in sent for m in msgs)


def test_build_rejects_a_turn_past_the_end():
    s = load_scenario(SCENARIOS / "quickstart.yaml", environ={})
    conversation = Conversation("zh", "x", (({"role": "user", "content": "hi"},),))
    with pytest.raises(ValueError, match="out of range"):
        RequestBuilder(s).build(conversation, 1, ())


def test_request_plan_sampling_always_lists_the_five_keys():
    s = load_scenario(SCENARIOS / "quickstart.yaml", environ={})
    for plan in bodies(s, 20):
        assert tuple(plan.sampling) == SAMPLING_KEYS
        for key in SAMPLING_KEYS:
            assert plan.sampling[key] == plan.body.get(key)


def test_max_tokens_expected_uses_each_conversations_expected_length(load):
    s = load(
        """
        target: {profile: openai}
        sampling: {max_tokens: {expected: 50}}
        prompt_sets:
          - {name: j, jsonl: p.jsonl}
          - {name: syn, synthetic: {prompt_tokens: 5, output_tokens: {uniform: [200, 300]}}}
        """,
        files={"p.jsonl": '{"prompt": "a", "expected_output_tokens": 7}\n{"prompt": "b"}\n'},
    )
    builder = RequestBuilder(s)
    j = s.prompt_set("j")
    assert j is not None
    assert builder.build(j.conversations[0], 0, ()).body["max_tokens"] == 7
    assert builder.build(j.conversations[1], 0, ()).body["max_tokens"] == 50  # no expected length
    for plan in bodies(s, 40):
        if plan.prompt_set == "syn":
            assert 200 <= plan.body["max_tokens"] <= 300


@pytest.mark.parametrize("language", ["en", "zh"])
def test_synthetic_prefix_is_shared_and_counted_within_the_length(load, language):
    s = load(
        f"prompt_sets: [{{name: s, synthetic: {{language: {language}, prompt_tokens: {{uniform: [100, 200]}}, "
        "prefix_tokens: 60}}]\n"
    )
    spec = s.prompt_sets[0].synthetic
    assert spec is not None and count_tokens(spec.prefix) == 60
    prompts = [p.body["messages"][0]["content"] for p in bodies(s, 20)]
    assert all(text.startswith(spec.prefix) for text in prompts)
    assert all(100 <= count_tokens(text) <= 200 for text in prompts)
    assert len(set(prompts)) == 20
