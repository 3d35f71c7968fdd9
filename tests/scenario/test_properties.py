"""Property tests: whatever the file holds, loading gives a Scenario or one ScenarioError line."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import ScenarioError
from bench.scenario.builder import RequestBuilder
from bench.scenario.loader import load_scenario
from bench.scenario.model import Scenario

# Keys and values drawn from the schema's own vocabulary, so generated files get deep into the
# loader rather than failing at the first unknown key.
KEYS = [
    "name",
    "seed",
    "target",
    "base_url",
    "model",
    "profile",
    "sampling",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "max_tokens",
    "stream",
    "ratio",
    "choice",
    "weights",
    "uniform",
    "grid",
    "normal",
    "mean",
    "stdev",
    "min",
    "max",
    "empirical",
    "prompt_sets",
    "inline",
    "synthetic",
    "prompt_tokens",
    "language",
    "count",
    "turns",
    "multi_turn",
    "max_turns",
    "weight",
    "load",
    "users",
    "spawn_rate",
    "duration_s",
    "think_time_s",
    "stages",
    "arrival",
    "rate_rps",
    "process",
    "burstiness",
    "slo",
    "ttft_ms",
    "p95",
    "error_rate",
    "sweep",
    "levels",
    "mode",
    "planning",
    "headroom",
    "role",
    "content",
    "messages",
    "timeouts",
    "total_s",
    "mock",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.integers(),
    st.floats(-3, 5),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e300]),
    st.sampled_from(["seed", "openai", "en", "zh", "user", "poisson", "gamma", "2m", "hi", "", "x.jsonl"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=25,
)
DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)


def _load(tmp_path, text: str) -> Scenario | None:
    path = tmp_path / "prop.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        scenario = load_scenario(path, environ={})
    except ScenarioError as exc:
        assert "\n" not in str(exc)
        return None
    return scenario


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(DOCUMENTS)
def test_structured_documents_give_a_scenario_or_a_scenario_error(tmp_path, document):
    scenario = _load(tmp_path, yaml.safe_dump(document, allow_unicode=True))
    if scenario is not None:
        # A scenario that loads can always build a request.
        builder = RequestBuilder(scenario)
        plan = builder.build(builder.next_conversation(), 0, ())
        assert plan.body["messages"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from(
            [*"abc:- []{}\n\t&*!|>'\"#%@`,?0.1", "seed: ", "load:\n  ", "users: ", "\u00e9", "\ufeff"]
        ),
        max_size=40,
    ).map("".join)
)
def test_arbitrary_text_gives_a_scenario_or_a_scenario_error(tmp_path, text):
    _load(tmp_path, text)


def test_self_referencing_yaml_is_an_error_not_a_crash(tmp_path):
    assert _load(tmp_path, "mock: &a {x: *a}\n") is None
    assert _load(tmp_path, "prompt_sets: &a [*a]\n") is None
