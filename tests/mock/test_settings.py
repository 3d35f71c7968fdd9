"""MockSettings: defaults that work, scenario `mock:` blocks with errors naming the key, flags round trip."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from bench.errors import MockError, ScenarioError
from bench.mock.settings import MockSettings


def parse(argv: list[str]) -> MockSettings:
    parser = argparse.ArgumentParser()
    MockSettings.add_arguments(parser)
    return MockSettings.from_args(parser.parse_args(argv))


def test_defaults_are_the_quickstart_model():
    s = MockSettings()
    assert (s.host, s.port, s.model, s.profile, s.strict) == ("127.0.0.1", 9000, "o", "seed", False)
    assert s.batch_slots == 8 and s.fault_rates() == {}
    assert parse([]) == s


def test_from_mapping_builds_settings_from_a_scenario_block():
    s = MockSettings.from_mapping(
        {"batch_slots": 2, "tpot_ms": 5, "profile": "openai", "fault_http_429": 0.1}
    )
    assert (s.batch_slots, s.tpot_ms, s.profile, s.fault_rates()) == (2, 5.0, "openai", {"http_429": 0.1})


@pytest.mark.parametrize(
    ("block", "key", "words"),
    [
        ({"batch_slot": 2}, "mock.batch_slot", "unknown mock setting; allowed: host, port"),
        ({"batch_slots": 0}, "mock.batch_slots", "at least 1"),
        ({"batch_slots": 2.5}, "mock.batch_slots", "integer"),
        ({"tpot_ms": "fast"}, "mock.tpot_ms", "number"),
        ({"profile": "vllm"}, "mock.profile", "one of seed, openai"),
        ({"fault_stall": 1.5}, "mock.fault_stall", "at most 1"),
        ({"strict": "yes"}, "mock.strict", "true or false"),
        ({"output_tokens_min": 50, "output_tokens_max": 10}, "mock.output_tokens_min", "output_tokens_max"),
    ],
)
def test_from_mapping_names_the_bad_key_and_what_is_allowed(block, key, words):
    with pytest.raises(ScenarioError) as info:
        MockSettings.from_mapping(block, "mock")
    assert info.value.key == key
    assert words in str(info.value)


def test_to_args_round_trips_through_the_command_line():
    s = MockSettings(
        port=0,
        profile="openai",
        strict=True,
        batch_slots=3,
        tpot_ms=7.5,
        output_dist="uniform",
        fault_no_done=0.25,
        truth_log="/tmp/x.jsonl",
        model="my-model",
    )
    assert parse(s.to_args()) == s
    assert MockSettings().to_args() == []


def test_every_field_has_a_flag_with_help():
    parser = argparse.ArgumentParser()
    MockSettings.add_arguments(parser)
    text = parser.format_help()
    for f in fields(MockSettings):
        assert "--" + f.name.replace("_", "-") in text
        assert f.metadata["help"]


def test_bad_values_in_code_raise_mock_error():
    with pytest.raises(MockError, match="--tokens-per-chunk: must be at least 1"):
        MockSettings(tokens_per_chunk=0)
    with pytest.raises(MockError, match="together must not exceed 1"):
        MockSettings(fault_http_500=0.6, fault_http_503=0.6)
