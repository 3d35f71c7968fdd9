"""Loading scenario files: the shipped examples, each prompt source, defaults, overrides and secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.errors import ScenarioError
from bench.scenario.builder import RequestBuilder
from bench.scenario.distributions import Uniform
from bench.scenario.loader import load_scenario
from bench.scenario.model import SloThreshold, Stage
from bench.tokens import count_tokens

from .conftest import SCENARIOS

EXAMPLES = sorted(SCENARIOS.glob("*.yaml"))
LOCAL = ("127.0.0.1", "localhost")


def test_the_expected_examples_ship():
    names = {p.stem for p in EXAMPLES}
    assert {
        "quickstart",
        "seed-api",
        "chat-mix",
        "long-context",
        "multi-turn",
        "openai-server",
        "capacity",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_loads_builds_and_serialises(path: Path):
    scenario = load_scenario(path, environ={})
    assert scenario.name == path.stem
    assert scenario.target.base_url is None  # every example runs against the embedded mock as shipped
    data = json.loads(json.dumps(scenario.to_dict()))
    assert data["name"] == path.stem
    builder = RequestBuilder(scenario)
    for _ in range(20):
        conversation = builder.next_conversation()
        plan = builder.build(conversation, 0, ())
        assert plan.body["model"] == scenario.target.model
        assert plan.body["messages"][-1]["role"] == "user"


@pytest.mark.parametrize("path", [*EXAMPLES, *SCENARIOS.glob("prompts/*")], ids=lambda p: p.name)
def test_no_shipped_file_names_an_address_other_than_localhost(path: Path):
    import re

    text = path.read_text(encoding="utf-8")
    for host in re.findall(r"https?://([^/:\s\"']+)", text):
        assert host in LOCAL, f"{path.name} names {host}"
    assert "192.168." not in text


def test_quickstart_is_short_mixed_and_has_slos():
    s = load_scenario(SCENARIOS / "quickstart.yaml", environ={})
    assert s.load.total_duration_s <= 30
    assert 0 < s.sampling.stream.ratio < 1
    assert not s.slo.empty


def test_seed_api_is_strict_seed_non_streaming():
    s = load_scenario(SCENARIOS / "seed-api.yaml", environ={})
    assert s.target.profile == "seed"
    assert s.mock["profile"] == "seed" and s.mock["strict"] is True
    assert s.sampling.stream.ratio == 0.0
    prompts = [m["content"] for ps in s.prompt_sets for c in ps.conversations for t in c.turns for m in t]
    assert "请介绍一下傅利叶公司" in prompts


def test_capacity_has_sweep_slo_and_planning():
    s = load_scenario(SCENARIOS / "capacity.yaml", environ={})
    assert s.sweep is not None and s.sweep.mode == "concurrency"
    assert min(s.sweep.levels) < s.mock["batch_slots"] < max(s.sweep.levels)
    assert s.planning is not None and s.planning.target_users == 200
    assert not s.slo.empty


def test_minimal_file_gets_working_defaults(load):
    s = load("name: tiny\n")
    assert s.target.base_url is None and s.target.model == "o" and s.target.profile == "seed"
    assert s.target.path == "/v1/chat/completions"
    assert s.load.stages == (Stage(30.0, 4, 4.0, None),)
    assert len(s.prompt_sets) == 1 and s.prompt_sets[0].conversations
    assert s.sampling.stream.ratio == 0.0  # the seed server does not stream yet
    assert s.sweep is None and s.planning is None and s.slo.empty


def test_a_scenario_without_a_name_is_named_after_the_file(write_scenario):
    s = load_scenario(write_scenario("seed: 1\n", name="nameless-one.yaml"), environ={})
    assert s.name == "nameless-one"


@pytest.mark.parametrize("text", ["", "   \n", "# a comment only\n"])
def test_an_empty_file_is_an_error_naming_it(write_scenario, text):
    path = write_scenario(text, name="empty-one.yaml")
    with pytest.raises(ScenarioError, match="empty") as info:
        load_scenario(path, environ={})
    assert str(path) in str(info.value)


def test_inline_prompts_and_message_lists(load):
    s = load(
        """
        prompt_sets:
          - name: mixed
            inline:
              - hello there
              - - {role: user, content: first}
                - {role: assistant, content: an answer}
                - {role: user, content: second}
              - messages: [{role: user, content: third}]
        """
    )
    convs = s.prompt_sets[0].conversations
    assert [len(c.turns) for c in convs] == [1, 1, 1]
    assert convs[0].turns[0] == ({"role": "user", "content": "hello there"},)
    assert [m["role"] for m in convs[1].turns[0]] == ["user", "assistant", "user"]
    assert convs[2].turns[0][0]["content"] == "third"


def test_jsonl_lines_prompt_messages_overrides_and_expected_length(load):
    lines = [
        '{"prompt": "one", "id": "a", "expected_output_tokens": 12}',
        "",
        '{"messages": [{"role": "user", "content": "two"}], "sampling": {"temperature": 1.5}}',
        '"three"',
        '[{"role": "user", "content": "four"}]',
    ]
    s = load("prompt_sets: [{name: j, jsonl: data/p.jsonl}]\n", files={"data/p.jsonl": "\n".join(lines)})
    convs = s.prompt_sets[0].conversations
    assert [c.turns[0][-1]["content"] for c in convs] == ["one", "two", "three", "four"]
    assert convs[0].prompt_id == "a" and convs[0].expected_output_tokens == 12
    assert convs[1].sampling_overrides == {"temperature": 1.5}
    assert s.prompt_sets[0].path == (s.path.parent / "data/p.jsonl").resolve()


def test_relative_paths_resolve_against_the_scenario_folder_not_the_cwd(write_scenario, monkeypatch):
    path = write_scenario("prompt_sets: [{jsonl: p.jsonl}]\n", files={"p.jsonl": '"x"\n'})
    monkeypatch.chdir("/")
    s = load_scenario(path, environ={})
    assert s.prompt_sets[0].name == "p"  # default name: the file's stem
    assert s.prompt_sets[0].conversations[0].turns[0][0]["content"] == "x"


def test_sharegpt_first_turn_mode_with_expected_output_length(load):
    path = SCENARIOS / "prompts" / "sharegpt-small.json"
    single = load(f"prompt_sets: [{{name: sg, sharegpt: '{path}'}}]\n")
    convs = {c.prompt_id: c for c in single.prompt_sets[0].conversations}
    assert "sg-empty" not in convs  # no human turn: skipped
    assert all(len(c.turns) == 1 for c in convs.values())
    assert convs["sg-2"].turns[0] == ({"role": "user", "content": "请帮我规划一个两天的杭州旅行。"},)
    answer = "第一天可以游览西湖和灵隐寺，第二天去西溪湿地，晚上逛河坊街。"
    assert convs["sg-2"].expected_output_tokens == count_tokens(answer)
    assert [m["role"] for m in convs["sg-3"].turns[0]] == ["system", "user"]


def test_sharegpt_replay_mode_keeps_only_user_turns_and_caps_turns():
    s = load_scenario(SCENARIOS / "multi-turn.yaml", environ={})
    convs = {c.prompt_id: c for c in s.prompt_set("sharegpt").conversations}
    assert len(convs["sg-2"].turns) == 3
    assert all(m["role"] != "assistant" for t in convs["sg-2"].turns for m in t)
    assert len(convs["sg-5"].turns) == 3  # it has 4 human turns; max_turns is 3
    assert len(convs["sg-1"].turns) == 1
    # A leading gpt greeting is context for the first question, not a turn.
    assert [m["role"] for m in convs["sg-6"].turns[0]] == ["assistant", "user"]


def test_synthetic_pool_is_reproducible_and_exact_in_tokens(load):
    text = """
    seed: 3
    prompt_sets:
      - name: syn
        synthetic: {language: zh, prompt_tokens: {uniform: [50, 400]}, count: 10}
    """
    a, b = load(text), load(text)
    assert a.prompt_sets[0].conversations == b.prompt_sets[0].conversations
    assert len(a.prompt_sets[0].conversations) == 10
    spec = a.prompt_sets[0].synthetic
    assert spec is not None and spec.prompt_tokens == Uniform(50, 400, integer=True)
    for c in a.prompt_sets[0].conversations:
        assert 50 <= count_tokens(c.turns[0][0]["content"]) <= 400
    c = load(text.replace("seed: 3", "seed: 4"))
    assert c.prompt_sets[0].conversations != a.prompt_sets[0].conversations


def test_load_stages_arrival_and_duration_strings(load):
    s = load(
        """
        load:
          think_time_s: {uniform: [0.5, 1.5]}
          arrival: {rate_rps: 5, process: gamma, burstiness: 0.5, max_inflight: 64}
          stages:
            - {duration_s: 10s, users: 2, spawn_rate: 1}
            - {duration_s: 1m, users: 8, rate_rps: 10}
          max_requests: 500
        """
    )
    assert s.load.stages == (Stage(10.0, 2, 1.0, 5.0), Stage(60.0, 8, 4.0, 10.0))
    assert s.load.total_duration_s == 70.0
    assert s.load.arrival is not None and s.load.arrival.burstiness == 0.5
    assert s.load.max_requests == 500
    assert not isinstance(s.load.think_time_s, float)


def test_slo_sweep_planning_blocks(load):
    s = load(
        """
        slo: {ttft_ms: {p95: 500, p99.9: 900}, tpot_ms: {p99: 50}, error_rate: 0.01}
        sweep: {mode: rate, levels: [0.5, 1, 2.5], warmup_s: 0s, step_duration_s: 1m}
        planning: {target_rps: 40}
        """
    )
    assert SloThreshold("ttft_ms", "p99.9", 900.0) in s.slo.thresholds
    assert s.slo.error_rate == 0.01
    assert s.sweep is not None and s.sweep.levels == (0.5, 1.0, 2.5)
    assert (s.sweep.warmup_s, s.sweep.step_duration_s) == (0.0, 60.0)
    assert s.sweep.stop_error_rate == 0.5 and s.sweep.stop_latency_factor == 10.0
    assert s.planning is not None and s.planning.headroom == 0.2 and s.planning.target_users is None
    assert s.to_dict()["slo"] == {
        "ttft_ms": {"p95": 500.0, "p99.9": 900.0},
        "tpot_ms": {"p99": 50.0},
        "error_rate": 0.01,
    }


# -- overrides: flag > environment > file > default --------------------------------------------

FILE_HOST = "target: {base_url: 'http://127.0.0.1:7001', model: file-model}\n"


def test_host_precedence_flag_over_env_over_file_over_default(load):
    env = {"CHATBENCH_HOST": "http://127.0.0.1:7002"}
    flag = {"host": "http://127.0.0.1:7003/"}
    assert load("{}\n").target.base_url is None
    assert load(FILE_HOST).target.base_url == "http://127.0.0.1:7001"
    assert load(FILE_HOST, environ=env).target.base_url == "http://127.0.0.1:7002"
    assert load(FILE_HOST, environ=env, overrides=flag).target.base_url == "http://127.0.0.1:7003"
    assert load("{}\n", environ=env).target.base_url == "http://127.0.0.1:7002"


def test_model_and_profile_overrides(load):
    assert load(FILE_HOST).target.model == "file-model"
    assert load(FILE_HOST, environ={"CHATBENCH_MODEL": "env-model"}).target.model == "env-model"
    s = load(FILE_HOST, environ={"CHATBENCH_MODEL": "env-model"}, overrides={"model": "flag-model"})
    assert s.target.model == "flag-model"
    assert load("{}\n", overrides={"profile": "openai"}).target.profile == "openai"


def test_profile_override_to_seed_rejects_max_tokens(load):
    with pytest.raises(ScenarioError, match=r"sampling\.max_tokens"):
        load("target: {profile: openai}\nsampling: {max_tokens: 64}\n", overrides={"profile": "seed"})


def test_load_overrides_replace_stages_with_one_stage(load):
    text = "load: {spawn_rate: 3, stages: [{duration_s: 5, users: 1}, {duration_s: 5, users: 9}]}\n"
    assert len(load(text).load.stages) == 2
    s = load(text, overrides={"users": 6, "duration_s": 12.0})
    assert s.load.stages == (Stage(12.0, 6, 3.0, None),)
    s = load("{}\n", overrides={"users": 10})
    assert s.load.stages == (Stage(30.0, 10, 10.0, None),)


def test_rate_override_makes_the_run_open_loop(load):
    s = load("{}\n", overrides={"rate_rps": 7.5})
    assert s.load.arrival is not None and s.load.arrival.rate_rps == 7.5
    assert s.load.stages[0].rate_rps == 7.5


def test_bad_override_names_the_flag_or_variable(load):
    with pytest.raises(ScenarioError, match=r"--host.*http://127\.0\.0\.1:8000"):
        load("{}\n", overrides={"host": "127.0.0.1:8000"})
    with pytest.raises(ScenarioError, match="CHATBENCH_PROFILE"):
        load("{}\n", environ={"CHATBENCH_PROFILE": "vllm"})


# -- secrets ------------------------------------------------------------------------------------

SECRET = "sk-test-0123456789-secret"


def test_api_key_is_read_from_the_env_var_and_never_serialised(load):
    s = load(
        "target: {api_key_env: MY_KEY, headers: {Authorization: 'Bearer inline-secret', X-Team: bench}}\n",
        environ={"MY_KEY": SECRET},
    )
    assert s.target.api_key == SECRET
    assert s.target.request_headers()["Authorization"] == f"Bearer {SECRET}"
    dumped = json.dumps(s.to_dict())
    assert SECRET not in dumped and "inline-secret" not in dumped
    assert s.to_dict()["target"]["api_key_env"] == "MY_KEY"
    assert s.to_dict()["target"]["headers"] == {"Authorization": "***", "X-Team": "bench"}
    assert SECRET not in repr(s) and SECRET not in str(s.target)
    assert "inline-secret" not in repr(s)


def test_missing_api_key_env_var_is_an_error_naming_it(load):
    with pytest.raises(ScenarioError, match=r"target\.api_key_env: environment variable MY_KEY is not set"):
        load("target: {api_key_env: MY_KEY}\n", environ={})


def test_tokenizer_file_sizes_synthetic_prompts(load, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers

    from bench.scenario.words import ENGLISH_WORDS

    vocab = {"[UNK]": 0}
    for word in ENGLISH_WORDS:
        vocab.setdefault(word, len(vocab))
        vocab.setdefault(word.capitalize(), len(vocab))
    vocab.setdefault(".", len(vocab))
    tok = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok_path = tmp_path / "tok" / "tokenizer.json"
    tok_path.parent.mkdir()
    tok.save(str(tok_path))
    s = load(
        """
        target: {tokenizer: tok}
        prompt_sets: [{name: s, synthetic: {prompt_tokens: 300, count: 5}}]
        """
    )
    assert s.target.tokenizer == tok_path.parent.resolve()
    for c in s.prompt_sets[0].conversations:
        n = len(tok.encode(c.turns[0][0]["content"], add_special_tokens=False).ids)
        assert n == 300
