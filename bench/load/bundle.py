"""The resolved scenario as the master sends it to a worker: workers read none of the master's files.

A worker starts with nothing but chatbench and the master's address. When its ``init`` listener runs
it asks the master (``chatbench_hello``), and the master answers with a *bundle*:

    {"chatbench": <version>, "scenario": <the resolved Scenario, pickled>, "files": {key: bytes},
     "run": {"run_id", "base_url", "drain_timeout_s", "step_label"}}

The resolved ``Scenario`` already holds every prompt: JSONL and ShareGPT lines, inline prompts and
synthetic pools are parsed into ``Conversation`` objects by the loader, so the prompt files are not
sent. What request-time code still opens by path is sent with it, as bytes: the tokenizer file
(``target.tokenizer``) and the word lists of synthetic sets that generate a fresh prompt per request
(``synthetic.words_file``). The worker writes those into a private temporary folder and points the
scenario at them (``unpack``).

Pickle, because the scenario is a tree of frozen dataclasses that changes as the project grows and
pickle carries all of it unchanged; both sides must run the same chatbench (checked). The master's
port is as trusted as Locust's own (which sends locustfiles to run): bind it to a private network.
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.errors import ChatbenchError
from bench.scenario.model import Scenario

__all__ = ["BundleError", "chatbench_version", "pack", "unpack"]

HELLO_MESSAGE = "chatbench_hello"
BUNDLE_MESSAGE = "chatbench_scenario"


class BundleError(ChatbenchError):
    """The master's bundle cannot be used by this worker (another chatbench version, a broken file)."""


def chatbench_version() -> str:
    try:
        return metadata.version("chatbench")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def pack(scenario: Scenario, run: dict[str, Any]) -> dict[str, Any]:
    """The bundle of ``scenario`` for one worker; ``run`` holds what the master decided (run id, target)."""
    files: dict[str, bytes] = {}
    if scenario.target.tokenizer is not None:
        files["tokenizer"] = _read(Path(scenario.target.tokenizer))
    for i, prompt_set in enumerate(scenario.prompt_sets):
        spec = prompt_set.synthetic
        if spec is not None and spec.words_file is not None and not prompt_set.conversations:
            files[f"words/{i}"] = _read(spec.words_file)
    return {
        "chatbench": chatbench_version(),
        "scenario": pickle.dumps(scenario, protocol=pickle.HIGHEST_PROTOCOL),
        "files": files,
        "run": dict(run),
    }


def unpack(
    bundle: dict[str, Any], workdir: str | Path | None = None
) -> tuple[Scenario, dict[str, Any], Path]:
    """The scenario of a bundle, its files written under ``workdir`` (default: a new temporary folder);
    returns (scenario, run, folder)."""
    theirs, ours = bundle.get("chatbench"), chatbench_version()
    if theirs != ours:
        raise BundleError(f"the master runs chatbench {theirs}, this worker {ours}: install the same version")
    try:
        scenario = pickle.loads(bundle["scenario"])  # the master is trusted: see the module docstring
    except Exception as exc:
        raise BundleError(f"the master's scenario cannot be read here: {type(exc).__name__}: {exc}") from None
    if not isinstance(scenario, Scenario):
        raise BundleError("the master sent something that is not a scenario")
    folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="chatbench-worker-"))
    files: dict[str, bytes] = bundle.get("files") or {}
    if "tokenizer" in files:
        scenario = replace(
            scenario,
            target=replace(scenario.target, tokenizer=_place(folder, "tokenizer.json", files["tokenizer"])),
        )
    sets = list(scenario.prompt_sets)
    for i, prompt_set in enumerate(sets):
        data = files.get(f"words/{i}")
        if data is not None and prompt_set.synthetic is not None:
            words = _place(folder, f"words-{i}.txt", data)
            sets[i] = replace(prompt_set, source=replace(prompt_set.synthetic, words_file=words))
    return replace(scenario, prompt_sets=tuple(sets)), dict(bundle.get("run") or {}), folder


def _read(path: Path) -> bytes:
    p = path / "tokenizer.json" if path.is_dir() else path
    try:
        return p.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read {p} to send it to the workers: {exc.strerror or exc}") from None


def _place(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path
