"""The seed profile's request bodies, key by key, against the seed server's document.

The document (``../shared/seed-api.md`` beside the repository, as CI has it; 请求参数说明) lists exactly seven body keys with their
types, and says no other parameter is supported (暂不支持其他参数). Its message table names the
roles ``user`` and ``assistant``. ``DOCUMENTED`` copies that table; when the document is on this
machine the table is read from it too, so the copy cannot drift.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.scenario.builder import RequestBuilder
from bench.scenario.loader import load_scenario
from bench.scenario.model import SEED_BODY_KEYS

from .conftest import SCENARIOS

SEED_DOC = Path(__file__).resolve().parents[2].parent / "shared" / "seed-api.md"  # ../shared of the repo
DOCUMENTED = {
    "model": "string",
    "messages": "array",
    "temperature": "float",
    "stream": "bool",
    "top_p": "float",
    "presence_penalty": "float",
    "frequency_penalty": "float",
}
DOCUMENTED_ROLES = {"user", "assistant"}
PYTHON_TYPES = {"string": str, "array": list, "float": float, "bool": bool}


def _doc_table(text: str) -> dict[str, str]:
    """name -> type from the 请求参数说明 table (rows like ``| top_p | 可选，float | 1.0 | ... |``)."""
    section = text.split("请求参数说明", 1)[1].split("相关结构体说明", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"[a-z_]+", cells[0]):
            kind = re.search(r"string|array|float|bool", cells[1])
            assert kind, line
            table[cells[0]] = kind.group(0)
    return table


def test_documented_table_matches_the_seed_document():
    if not SEED_DOC.is_file():
        pytest.skip(f"the seed document is not beside the repository ({SEED_DOC})")
    assert _doc_table(SEED_DOC.read_text(encoding="utf-8")) == DOCUMENTED


def test_the_profile_constant_is_the_documented_key_set():
    assert set(SEED_BODY_KEYS) == set(DOCUMENTED)


SEED_EXAMPLES = [
    p for p in sorted(SCENARIOS.glob("*.yaml")) if load_scenario(p, environ={}).target.profile == "seed"
]


def test_there_are_seed_profile_examples():
    assert {p.stem for p in SEED_EXAMPLES} >= {"seed-api", "chat-mix"}


def _check_body(body: dict) -> None:
    assert set(body) == set(DOCUMENTED), f"keys {sorted(body)}"
    for key, kind in DOCUMENTED.items():
        assert type(body[key]) is PYTHON_TYPES[kind], f"{key}: {body[key]!r} is not {kind}"
    assert body["messages"], "messages must not be empty"
    for message in body["messages"]:
        assert set(message) == {"role", "content"}
        assert message["role"] in DOCUMENTED_ROLES
        assert isinstance(message["content"], str) and message["content"]
    assert body["messages"][-1]["role"] == "user"


@pytest.mark.parametrize("path", SEED_EXAMPLES, ids=lambda p: p.stem)
def test_every_seed_profile_body_has_exactly_the_seven_documented_keys(path: Path):
    scenario = load_scenario(path, environ={})
    for user in range(3):
        builder = RequestBuilder(scenario, seed=scenario.seed + user)
        for _ in range(150):
            conversation = builder.next_conversation()
            history: list = []
            for turn in range(len(conversation.turns)):
                plan = builder.build(conversation, turn, history)
                _check_body(dict(plan.body))
                assert plan.sampling["max_tokens"] is None
                history = [*plan.messages, {"role": "assistant", "content": "答"}]


def test_seed_api_example_never_streams():
    scenario = load_scenario(SCENARIOS / "seed-api.yaml", environ={})
    builder = RequestBuilder(scenario)
    assert not any(builder.build(builder.next_conversation(), 0, ()).stream for _ in range(200))


def test_openai_only_examples_become_seed_bodies_when_they_have_no_max_tokens(load):
    # A scenario written for the openai profile but without max_tokens can be switched to seed.
    s = load(
        "target: {profile: openai}\nsampling: {temperature: 0.3, stream: true}\n",
        overrides={"profile": "seed"},
    )
    builder = RequestBuilder(s)
    for _ in range(20):
        _check_body(dict(builder.build(builder.next_conversation(), 0, ()).body))
