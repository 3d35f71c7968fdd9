"""Malformed scenario files: each gives one ScenarioError line naming the file, the key path and what
is allowed; never a traceback. Also: the CLI prints that line and exits 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import ScenarioError
from bench.scenario.loader import load_scenario

SHAREGPT_BAD_FROM = '[{"conversations": [{"from": "robot", "value": "hi"}]}]'

# (id, scenario yaml, extra files, file named in the error, key path, fragment of the message)
CASES: list[tuple[str, str, dict[str, str], str, str | None, str]] = [
    ("bad-yaml", "name: [unclosed\nseed: 1\n", {}, "scenario.yaml", None, "invalid YAML at line"),
    ("bad-yaml-tab", "load:\n\tusers: 3\n", {}, "scenario.yaml", None, "invalid YAML at line 2"),
    ("top-level-list", "- a\n- b\n", {}, "scenario.yaml", None, "expected a mapping"),
    ("unknown-top-key", "sampeling: {}\n", {}, "scenario.yaml", "sampeling", "did you mean 'sampling'"),
    ("duplicate-key", "seed: 1\nseed: 2\n", {}, "scenario.yaml", "seed", "duplicate key 'seed'"),
    ("seed-negative", "seed: -1\n", {}, "scenario.yaml", "seed", "allowed: an integer >= 0"),
    ("name-not-string", "name: [a]\n", {}, "scenario.yaml", "name", "expected a string"),
    ("profile", "target: {profile: gpt}\n", {}, "scenario.yaml", "target.profile", "allowed: seed, openai"),
    (
        "base-url-scheme",
        "target: {base_url: '127.0.0.1:8000'}\n",
        {},
        "scenario.yaml",
        "target.base_url",
        "http://127.0.0.1:8000",
    ),
    ("target-path", "target: {path: v1/chat}\n", {}, "scenario.yaml", "target.path", "must start with '/'"),
    (
        "timeout-negative",
        "target: {timeouts: {total_s: -1}}\n",
        {},
        "scenario.yaml",
        "target.timeouts.total_s",
        "out of range",
    ),
    (
        "timeout-unknown",
        "target: {timeouts: {read_s: 3}}\n",
        {},
        "scenario.yaml",
        "target.timeouts.read_s",
        "allowed keys: connect_s",
    ),
    (
        "api-key-literal",
        "target: {api_key_env: 'sk-abc123'}\n",
        {},
        "scenario.yaml",
        "target.api_key_env",
        "NAME of an environment variable",
    ),
    (
        "tokenizer-missing",
        "target: {tokenizer: nope.json}\n",
        {},
        "scenario.yaml",
        "target.tokenizer",
        "tokenizer file not found",
    ),
    (
        "max-tokens-seed",
        "sampling: {max_tokens: 64}\n",
        {},
        "scenario.yaml",
        "sampling.max_tokens",
        "needs target.profile: openai",
    ),
    (
        "top-p-range",
        "sampling: {top_p: 1.5}\n",
        {},
        "scenario.yaml",
        "sampling.top_p",
        "allowed: a number in (0, 1]",
    ),
    (
        "temperature-string",
        "sampling: {temperature: hot}\n",
        {},
        "scenario.yaml",
        "sampling.temperature",
        "expected a number",
    ),
    (
        "temperature-null-seed",
        "sampling: {temperature: null}\n",
        {},
        "scenario.yaml",
        "sampling.temperature",
        "always sends all seven",
    ),
    (
        "weights-count",
        "sampling: {temperature: {choice: [0.1], weights: [1, 2]}}\n",
        {},
        "scenario.yaml",
        "sampling.temperature.weights",
        "one per choice",
    ),
    (
        "uniform-order",
        "sampling: {temperature: {uniform: [1.0, 0.5]}}\n",
        {},
        "scenario.yaml",
        "sampling.temperature.uniform",
        "above high",
    ),
    (
        "grid-empty",
        "sampling: {temperature: {grid: []}}\n",
        {},
        "scenario.yaml",
        "sampling.temperature.grid",
        "must not be empty",
    ),
    (
        "grid-typo",
        "sampling: {temperature: {gird: [0.1]}}\n",
        {},
        "scenario.yaml",
        "sampling.temperature.gird",
        "did you mean 'grid'",
    ),
    (
        "grid-value-range",
        "sampling: {presence_penalty: {grid: [0, 3]}}\n",
        {},
        "scenario.yaml",
        "sampling.presence_penalty.grid[1]",
        "in [-2, 2]",
    ),
    (
        "stream-string",
        "sampling: {stream: 'yes'}\n",
        {},
        "scenario.yaml",
        "sampling.stream",
        "expected true, false or {ratio",
    ),
    (
        "stream-ratio",
        "sampling: {stream: {ratio: 2}}\n",
        {},
        "scenario.yaml",
        "sampling.stream.ratio",
        "in [0, 1]",
    ),
    ("prompt-sets-empty", "prompt_sets: []\n", {}, "scenario.yaml", "prompt_sets", "must not be empty"),
    (
        "set-sampling",
        "prompt_sets: [{inline: [a]}, {inline: [b], sampling: {top_p: 0}}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[1].sampling.top_p",
        "out of range",
    ),
    (
        "two-sources",
        "prompt_sets: [{inline: [a], jsonl: p.jsonl}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0]",
        "exactly one prompt source",
    ),
    (
        "no-source",
        "prompt_sets: [{name: x}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0]",
        "exactly one prompt source",
    ),
    (
        "jsonl-missing",
        "prompt_sets: [{jsonl: missing.jsonl}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].jsonl",
        "file not found",
    ),
    (
        "inline-empty",
        "prompt_sets: [{inline: []}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].inline",
        "must not be empty",
    ),
    (
        "role",
        "prompt_sets: [{inline: [[{role: bot, content: hi}]]}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].inline[0][0].role",
        "allowed: system, user, assistant",
    ),
    (
        "ends-with-assistant",
        "prompt_sets: [{inline: [[{role: user, content: a}, {role: assistant, content: b}]]}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].inline[0]",
        "must end with a user message",
    ),
    (
        "weight-zero",
        "prompt_sets: [{inline: [a], weight: 0}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].weight",
        "allowed: a number > 0",
    ),
    (
        "duplicate-set-name",
        "prompt_sets: [{name: a, inline: [x]}, {name: a, inline: [y]}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[1].name",
        "used twice",
    ),
    (
        "synthetic-no-length",
        "prompt_sets: [{synthetic: {language: en}}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].synthetic.prompt_tokens",
        "is required",
    ),
    (
        "synthetic-language",
        "prompt_sets: [{synthetic: {language: fr, prompt_tokens: 10}}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].synthetic.language",
        "allowed: en, zh",
    ),
    (
        "normal-no-stdev",
        "prompt_sets: [{synthetic: {prompt_tokens: {normal: {mean: 100}}}}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].synthetic.prompt_tokens.normal.stdev",
        "is required",
    ),
    (
        "synthetic-turns",
        "prompt_sets: [{synthetic: {prompt_tokens: 10, turns: 3}}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].synthetic.turns",
        "multi_turn: true",
    ),
    (
        "max-turns-single",
        "prompt_sets: [{inline: [a], max_turns: 2}]\n",
        {},
        "scenario.yaml",
        "prompt_sets[0].max_turns",
        "multi_turn: true",
    ),
    (
        "jsonl-bad-line",
        "prompt_sets: [{jsonl: p.jsonl}]\n",
        {"p.jsonl": '"ok"\n{not json\n'},
        "p.jsonl:2",
        None,
        "not valid JSON",
    ),
    (
        "jsonl-line-max-tokens",
        "prompt_sets: [{jsonl: p.jsonl}]\n",
        {"p.jsonl": '{"prompt": "a", "sampling": {"max_tokens": 5}}\n'},
        "p.jsonl:1",
        "sampling.max_tokens",
        "needs target.profile: openai",
    ),
    (
        "jsonl-line-unknown",
        "prompt_sets: [{jsonl: p.jsonl}]\n",
        {"p.jsonl": '{"promt": "a"}\n'},
        "p.jsonl:1",
        "promt",
        "did you mean 'prompt'",
    ),
    (
        "jsonl-empty",
        "prompt_sets: [{jsonl: p.jsonl}]\n",
        {"p.jsonl": "\n\n"},
        "scenario.yaml",
        "prompt_sets[0].jsonl",
        "holds no prompts",
    ),
    (
        "sharegpt-from",
        "prompt_sets: [{sharegpt: s.json}]\n",
        {"s.json": SHAREGPT_BAD_FROM},
        "s.json",
        "[0].conversations[0].from",
        "allowed: human",
    ),
    (
        "sharegpt-not-json",
        "prompt_sets: [{sharegpt: s.json}]\n",
        {"s.json": "{oops"},
        "s.json",
        None,
        "not valid JSON",
    ),
    (
        "users-zero",
        "load: {users: 0}\n",
        {},
        "scenario.yaml",
        "load.users",
        "allowed: an integer in [1, 1000000]",
    ),
    (
        "users-float",
        "load: {users: 2.5}\n",
        {},
        "scenario.yaml",
        "load.users",
        "expected an integer in [1, 1000000]",
    ),
    (
        "duration-text",
        "load: {duration_s: ten minutes}\n",
        {},
        "scenario.yaml",
        "load.duration_s",
        "like 30s, 2m, 1h30m",
    ),
    (
        "stage-missing-users",
        "load: {stages: [{duration_s: 5, users: 1}, {duration_s: 5}]}\n",
        {},
        "scenario.yaml",
        "load.stages[1].users",
        "is required",
    ),
    (
        "stage-rate-no-arrival",
        "load: {stages: [{duration_s: 5, users: 1, rate_rps: 3}]}\n",
        {},
        "scenario.yaml",
        "load.stages[0].rate_rps",
        "load.arrival",
    ),
    (
        "arrival-process",
        "load: {arrival: {rate_rps: 2, process: uniform}}\n",
        {},
        "scenario.yaml",
        "load.arrival.process",
        "allowed: poisson, constant, gamma",
    ),
    (
        "burstiness-poisson",
        "load: {arrival: {rate_rps: 2, burstiness: 0.5}}\n",
        {},
        "scenario.yaml",
        "load.arrival.burstiness",
        "process: gamma",
    ),
    ("think-negative", "load: {think_time_s: -1}\n", {}, "scenario.yaml", "load.think_time_s", ">= 0"),
    (
        "slo-stat",
        "slo: {ttft_ms: {p42: 100}}\n",
        {},
        "scenario.yaml",
        "slo.ttft_ms.p42",
        "allowed keys: p50, p90",
    ),
    (
        "slo-metric",
        "slo: {latency_ms: {p95: 100}}\n",
        {},
        "scenario.yaml",
        "slo.latency_ms",
        "allowed keys: ttft_ms",
    ),
    ("slo-error-rate", "slo: {error_rate: 1.5}\n", {}, "scenario.yaml", "slo.error_rate", "in [0, 1]"),
    ("sweep-order", "sweep: {levels: [4, 2]}\n", {}, "scenario.yaml", "sweep.levels", "increase strictly"),
    (
        "sweep-fraction",
        "sweep: {mode: concurrency, levels: [1.5]}\n",
        {},
        "scenario.yaml",
        "sweep.levels[0]",
        "expected an integer",
    ),
    (
        "sweep-warmup",
        "sweep: {levels: [1], step_duration_s: 5, warmup_s: 5}\n",
        {},
        "scenario.yaml",
        "sweep.warmup_s",
        "shorter than step_duration_s",
    ),
    (
        "planning-headroom",
        "planning: {headroom: 1.5}\n",
        {},
        "scenario.yaml",
        "planning.headroom",
        "in [0, 0.95]",
    ),
    (
        "planning-users",
        "planning: {target_users: -3}\n",
        {},
        "scenario.yaml",
        "planning.target_users",
        ">= 1",
    ),
    (
        "mock-unknown",
        "mock: {batch_slot: 3}\n",
        {},
        "scenario.yaml",
        "mock.batch_slot",
        "did you mean 'batch_slots'",
    ),
]


@pytest.mark.parametrize(
    ("text", "files", "file", "key", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_scenario_gives_one_line_naming_file_and_key(
    write_scenario, text, files, file, key, fragment
):
    path = write_scenario(text, files)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, environ={})
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert err.file is not None and Path(err.file.split(":")[0]).name == file.split(":")[0]
    if ":" in file:  # a line of a prompt file
        assert err.file.endswith(file)
    assert err.key == key
    if key:
        assert f": {key}: " in message
    assert fragment in message


def test_there_are_at_least_thirty_malformed_cases():
    assert len(CASES) >= 30


def test_errors_carry_the_line_of_the_key(write_scenario):
    path = write_scenario("name: x\nload:\n  users: 2\n  spawn_rate: -1\n")
    with pytest.raises(ScenarioError, match=r"load\.spawn_rate: .*\(line 4\)$"):
        load_scenario(path, environ={})


def test_missing_scenario_file(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found") as info:
        load_scenario(tmp_path / "nope.yaml")
    assert info.value.file == str(tmp_path / "nope.yaml")


def test_validate_cli_prints_one_line_and_exits_2(write_scenario, capsys):
    path = write_scenario("sampling: {top_p: 7}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and "sampling.top_p" in err


def test_validate_cli_as_a_process_has_no_traceback(write_scenario):
    path = write_scenario("load: {users: many}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "load.users" in proc.stderr
