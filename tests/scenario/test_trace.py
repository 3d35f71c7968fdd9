"""Trace prompt sets: each format read in order with its times, prompts at the exact length, equal
hash_ids giving equal text, the cuts and time_scale, and one clear line for every bad trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ScenarioError
from bench.scenario.loader import load_scenario
from bench.tokens import count_tokens, split_tokens

TRACES = Path(__file__).resolve().parents[2] / "scenarios" / "traces"
SAMPLES = {
    "mooncake": "mooncake-sample.jsonl",
    "azure": "azure-sample.csv",
    "burstgpt": "burstgpt-sample.csv",
    "chatbench": "chatbench-sample.jsonl",
}


def _trace_scenario(write_scenario, trace: str, extra: str = "", files=None, profile: str = "openai") -> Path:
    return write_scenario(
        f"target: {{profile: {profile}}}\nprompt_sets:\n  - trace: {{path: {trace}{extra}}}\n", files
    )


def _data_lines(path: Path) -> int:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return len(lines) - (1 if path.suffix == ".csv" else 0)


@pytest.mark.parametrize("fmt", SAMPLES)
def test_each_shipped_sample_is_read_whole_in_order_with_its_format_guessed(write_scenario, fmt):
    path = _trace_scenario(write_scenario, str(TRACES / SAMPLES[fmt]))
    s = load_scenario(path, environ={})
    ps = s.prompt_sets[0]
    assert ps.source.format == fmt  # type: ignore[attr-defined]
    convs = ps.conversations
    assert len(convs) == _data_lines(TRACES / SAMPLES[fmt])
    lines = [int(c.prompt_id.split("-")[1]) for c in convs]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)
    times = [c.at_s for c in convs]
    assert times[0] == 0.0 and times == sorted(times)
    assert s.load.arrival is not None and s.load.arrival.process == "trace"
    assert s.load.total_duration_s > times[-1]


def test_length_only_rows_get_prompts_of_exactly_their_token_length(write_scenario):
    path = _trace_scenario(write_scenario, str(TRACES / SAMPLES["azure"]))
    convs = load_scenario(path, environ={}).prompt_sets[0].conversations
    rows = (TRACES / SAMPLES["azure"]).read_text().splitlines()[1:]
    for conv, row in zip(convs, rows, strict=True):
        _, context, generated = row.split(",")
        assert count_tokens(conv.turns[0][0]["content"]) == int(context)
        assert conv.sampling_overrides == {"max_tokens": int(generated)}  # openai: output length sent


def test_equal_hash_ids_give_equal_prefixes_and_different_ids_differ(write_scenario):
    trace = (
        '{"timestamp": 0, "input_length": 1100, "output_length": 5, "hash_ids": [7, 8, 9]}\n'
        '{"timestamp": 10, "input_length": 1030, "output_length": 5, "hash_ids": [7, 8, 20]}\n'
        '{"timestamp": 20, "input_length": 600, "output_length": 5, "hash_ids": [30, 8]}\n'
    )
    path = _trace_scenario(write_scenario, "t.jsonl", ", block_tokens: 512", {"t.jsonl": trace})
    a, b, c = (
        split_tokens(x.turns[0][0]["content"])
        for x in load_scenario(path, environ={}).prompt_sets[0].conversations
    )
    assert (len(a), len(b), len(c)) == (1100, 1030, 600)
    assert a[:1024] == b[:1024]  # blocks 7 and 8 shared
    assert a[1024:1030] != b[1024:1030]  # block 9 vs block 20
    assert c[:512] != a[:512] and c[512:600] == a[512:600]  # block 8 again, after a different first block
    mooncake = load_scenario(_trace_scenario(write_scenario, str(TRACES / SAMPLES["mooncake"])), environ={})
    rows = [__import__("json").loads(x) for x in (TRACES / SAMPLES["mooncake"]).read_text().splitlines()]
    texts = [split_tokens(c.turns[0][0]["content"]) for c in mooncake.prompt_sets[0].conversations]
    shared = [
        (i, j) for i in range(len(rows)) for j in range(i) if rows[i]["hash_ids"][0] == rows[j]["hash_ids"][0]
    ]
    assert shared  # the sample has prefix reuse
    for i, j in shared:
        assert texts[i][:512] == texts[j][:512]  # a whole shared block, token by token


def test_time_scale_and_cuts(write_scenario):
    trace = "".join(
        f'{{"timestamp": {t}, "input_length": 10, "output_length": 2}}\n' for t in (0, 1000, 2000, 3000, 4000)
    )
    files = {"t.jsonl": trace}
    scaled = load_scenario(_trace_scenario(write_scenario, "t.jsonl", ", time_scale: 0.5", files), environ={})
    assert [c.at_s for c in scaled.prompt_sets[0].conversations] == [0.0, 0.5, 1.0, 1.5, 2.0]
    cut = load_scenario(
        _trace_scenario(write_scenario, "t.jsonl", ", start_s: 1, end_s: 3.5, max_requests: 2", files),
        environ={},
    )
    convs = cut.prompt_sets[0].conversations
    assert [c.prompt_id for c in convs] == ["line-2", "line-3"] and [c.at_s for c in convs] == [0.0, 1.0]


def test_seed_profile_keeps_output_lengths_out_of_the_body(write_scenario):
    path = _trace_scenario(write_scenario, str(TRACES / SAMPLES["mooncake"]), profile="seed")
    conv = load_scenario(path, environ={}).prompt_sets[0].conversations[0]
    assert conv.sampling_overrides == {} and conv.expected_output_tokens is not None


MOON = '{"timestamp": 0, "input_length": 10, "output_length": 2}\n'
BAD = [
    (
        "unsorted",
        "t.jsonl",
        MOON
        + '{"timestamp": 500, "input_length": 5, "output_length": 1}\n{"timestamp": 200, "input_length": 5, "output_length": 1}\n',
        "t.jsonl:3",
        "timestamp",
        "sorted by time",
    ),
    (
        "negative",
        "t.jsonl",
        MOON + '{"timestamp": 5, "input_length": -3, "output_length": 1}\n',
        "t.jsonl:2",
        "input_length",
        "negative",
    ),
    (
        "missing-key",
        "t.jsonl",
        '{"timestamp": 0, "output_length": 2}\n',
        "t.jsonl:1",
        "input_length",
        "is missing",
    ),
    ("not-json", "t.jsonl", MOON + "{oops\n", "t.jsonl:2", None, "not valid JSON"),
    (
        "missing-column",
        "t.csv",
        "TIMESTAMP,ContextTokens\n1,2\n",
        "t.csv:1",
        "GeneratedTokens",
        "column is missing",
    ),
    (
        "bad-count",
        "t.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n0,12,3\n1,lots,3\n",
        "t.csv:3",
        "ContextTokens",
        "token count",
    ),
    (
        "burst-unsorted",
        "t.csv",
        "Timestamp,Model,Request tokens,Response tokens\n5,a,1,1\n2,a,1,1\n",
        "t.csv:3",
        "Timestamp",
        "sorted",
    ),
    (
        "chatbench-both",
        "t.jsonl",
        '{"t_s": 0, "prompt_tokens": 3, "messages": [{"role": "user", "content": "x"}]}\n',
        "t.jsonl:1",
        None,
        "exactly one of",
    ),
]


@pytest.mark.parametrize(
    ("file", "text", "where", "key", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_a_bad_trace_gives_one_line_naming_file_line_and_field(
    write_scenario, file, text, where, key, fragment
):
    fmt = ", format: burstgpt" if "Model" in text else ""
    path = _trace_scenario(write_scenario, file, fmt, {file: text})
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, environ={})
    message = str(info.value)
    assert "\n" not in message and fragment in message, message
    assert info.value.file is not None and info.value.file.endswith(where), message
    assert info.value.key == key, message


def test_unknown_format_and_a_trace_with_other_sets_or_a_rate(write_scenario):
    files = {"t.txt": "hello\n", "t.jsonl": MOON}
    for extra, key, fragment in (
        ("", "prompt_sets[0].trace.format", "give format: one of mooncake"),
        (", format: parquet", "prompt_sets[0].trace.format", "allowed: mooncake, chatbench, azure, burstgpt"),
    ):
        with pytest.raises(ScenarioError) as info:
            load_scenario(_trace_scenario(write_scenario, "t.txt", extra, files), environ={})
        assert info.value.key == key and fragment in str(info.value), str(info.value)
    two = write_scenario("prompt_sets:\n  - trace: t.jsonl\n  - inline: [hi]\n", files)
    with pytest.raises(ScenarioError, match="must be the only prompt set"):
        load_scenario(two, environ={})
    with pytest.raises(ScenarioError, match="time_scale"):
        load_scenario(_trace_scenario(write_scenario, "t.jsonl", "", files), {"rate_rps": 5}, environ={})
    arrival = write_scenario("prompt_sets:\n  - trace: t.jsonl\nload: {arrival: {rate_rps: 3}}\n", files)
    with pytest.raises(ScenarioError, match=r"load\.arrival: a trace sets the arrivals"):
        load_scenario(arrival, environ={})
