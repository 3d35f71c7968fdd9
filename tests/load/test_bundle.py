"""The scenario a worker gets from the master: the same requests, with none of the master's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgpack
import pytest
import yaml

from bench.load.bundle import BundleError, pack, unpack
from bench.scenario.builder import RequestBuilder
from bench.scenario.loader import load_scenario

TOKENIZER = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "stories260K-tokenizer"


def _scenario_dir(tmp_path: Path, *, tokenizer: bool) -> Path:
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "prompts.jsonl").write_text(
        '{"prompt": "What is a load test?"}\n{"messages": [{"role": "user", "content": "你好"}]}\n', "utf-8"
    )
    (folder / "words.txt").write_text("alpha beta gamma delta epsilon zeta eta theta", "utf-8")
    target: dict[str, object] = {"base_url": "http://127.0.0.1:1"}
    if tokenizer:
        shutil.copytree(TOKENIZER, folder / "tok")
        target["tokenizer"] = "tok"
    data = {
        "name": "shipped",
        "seed": 7,
        "target": target,
        "prompt_sets": [
            {"name": "file", "jsonl": "prompts.jsonl", "weight": 1},
            {"name": "fresh", "synthetic": {"prompt_tokens": 20, "words_file": "words.txt"}, "weight": 1},
        ],
        "sampling": {"temperature": {"uniform": [0.1, 0.9]}, "stream": {"ratio": 0.5}},
    }
    (folder / "s.yaml").write_text(yaml.safe_dump(data), "utf-8")
    return folder


def _bodies(scenario: object, n: int = 30) -> list[dict[str, object]]:
    builder = RequestBuilder(scenario, seed=11)  # type: ignore[arg-type]
    out = []
    for _ in range(n):
        conversation = builder.next_conversation()
        out.append(dict(builder.build(conversation, 0, []).body))
    return out


@pytest.mark.parametrize("tokenizer", [False, True])
def test_a_worker_builds_the_masters_requests_without_the_masters_files(
    tmp_path: Path, tokenizer: bool
) -> None:
    if tokenizer:
        pytest.importorskip("tokenizers")
        if not TOKENIZER.is_dir():
            pytest.skip(f"no test tokenizer at {TOKENIZER}")
    folder = _scenario_dir(tmp_path, tokenizer=tokenizer)
    master = load_scenario(folder / "s.yaml", {})
    wire = msgpack.loads(msgpack.dumps(pack(master, {"run_id": "r1"})), raw=False)  # as Locust sends it
    expected = _bodies(master)
    shutil.rmtree(folder)  # the worker's machine has none of it
    worker, run, private = unpack(wire, tmp_path / "worker")
    assert run == {"run_id": "r1"}
    assert _bodies(worker) == expected
    assert {p.name for p in private.iterdir()} == ({"tokenizer.json"} if tokenizer else set()) | {
        "words-1.txt"
    }
    if tokenizer:
        assert worker.target.tokenizer == private / "tokenizer.json"


def test_a_worker_of_another_chatbench_version_says_which(tmp_path: Path) -> None:
    master = load_scenario(_scenario_dir(tmp_path, tokenizer=False) / "s.yaml", {})
    bundle = pack(master, {})
    bundle["chatbench"] = "0.0.1"
    with pytest.raises(BundleError, match=r"the master runs chatbench 0\.0\.1, this worker .*same version"):
        unpack(bundle, tmp_path / "w")
