"""A ``prompt_sets`` entry: a weighted source of conversations with its own sampling on top.

Each entry names exactly one registered source key (``bench.scenario.sources``); the source's class
parses that block. A scenario without ``prompt_sets`` plays two built-in prompts (one Chinese, one
English, as the seed examples).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.profiles import ApiProfile
from bench.scenario.checks import Where, join
from bench.scenario.plan import Conversation
from bench.scenario.sampling import SamplingSpec, parse_sampling
from bench.scenario.sources import PromptSource, SourceContext, get_source, source_names
from bench.scenario.sources.synthetic import SyntheticSpec

__all__ = ["DEFAULT_PROMPTS", "PromptSet", "parse_prompt_sets"]

DEFAULT_PROMPTS = ("请介绍一下你自己", "Explain in two sentences what a load test measures.")
_SET_KEYS = ("name", "weight", "multi_turn", "max_turns", "sampling")


@dataclass(frozen=True)
class PromptSet:
    """One weighted source of conversations."""

    name: str
    weight: float
    source: PromptSource  # the parsed source block (its registered name: ``source.name``)
    sampling: SamplingSpec  # effective: the top-level block with this set's own keys on top
    multi_turn: bool = False
    own_sampling: bool = False  # the set has a sampling block of its own

    @property
    def kind(self) -> str:
        """The source's registered name: inline, jsonl, sharegpt, synthetic, ..."""
        return self.source.name

    @property
    def conversations(self) -> tuple[Conversation, ...]:
        """The fixed pool (empty for a source that generates conversations on demand)."""
        return self.source.conversations

    @property
    def path(self) -> Path | None:
        return self.source.path

    @property
    def synthetic(self) -> SyntheticSpec | None:
        return self.source if isinstance(self.source, SyntheticSpec) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weight": self.weight,
            "source": self.kind,
            "multi_turn": self.multi_turn,
            "path": None if self.path is None else str(self.path),
            "conversations": len(self.conversations),
            "sampling": self.sampling.to_data(),
            **self.source.to_data(),
        }


def parse_prompt_sets(
    where: Where,
    raw: Mapping[str, Any],
    base_dir: Path,
    profile: ApiProfile,
    sampling: SamplingSpec,
    seed: int,
    counter: Callable[[str], int],
) -> tuple[PromptSet, ...]:
    """The ``prompt_sets`` list (or the default set when the file has none)."""
    sources = source_names()
    if "prompt_sets" not in raw:
        ctx = SourceContext(where, "prompt_sets", base_dir, profile, seed, "default", False, None, counter)
        default = get_source("inline").parse(ctx, list(DEFAULT_PROMPTS))
        return (PromptSet("default", 1.0, default, sampling),)
    sets = []
    names: set[str] = set()
    for i, item in enumerate(where.list(raw["prompt_sets"], "prompt_sets")):
        key = join("prompt_sets", i)
        block = where.mapping(item, key)
        where.known_keys(block, key, (_SET_KEYS[0], *sources, *_SET_KEYS[1:]))
        given_sources = [s for s in sources if s in block]
        if len(given_sources) != 1:
            raise where.error(
                key,
                f"give exactly one prompt source: {', '.join(sources[:-1])} or {sources[-1]} "
                f"(got {len(given_sources)})",
            )
        kind = given_sources[0]
        source_cls = get_source(kind)
        default_name = (
            Path(block[kind]).stem if source_cls.takes_file and isinstance(block[kind], str) else f"{kind}{i}"
        )
        name = (
            where.string(block["name"], join(key, "name")) if block.get("name") is not None else default_name
        )
        if name in names:
            raise where.error(
                join(key, "name"), f"prompt set name '{name}' is used twice; names must be unique"
            )
        names.add(name)
        weight = where.number(block.get("weight", 1), join(key, "weight"), lo=0, lo_open=True)
        multi_turn = where.boolean(block.get("multi_turn", False), join(key, "multi_turn"))
        max_turns = None
        if block.get("max_turns") is not None:
            if not multi_turn:
                raise where.error(join(key, "max_turns"), "only applies with multi_turn: true")
            max_turns = where.integer(block["max_turns"], join(key, "max_turns"), lo=1)
        set_sampling = parse_sampling(
            where, block.get("sampling"), join(key, "sampling"), profile, base=sampling
        )
        ctx = SourceContext(
            where, join(key, kind), base_dir, profile, seed, name, multi_turn, max_turns, counter
        )
        source = source_cls.parse(ctx, block[kind])
        sets.append(
            PromptSet(
                name=name,
                weight=weight,
                source=source,
                sampling=set_sampling,
                multi_turn=multi_turn or source.multi_turn,
                own_sampling=block.get("sampling") is not None,
            )
        )
    return tuple(sets)
