"""Prompt sources: where a prompt set's conversations come from, one registered module per source.

A prompt set names exactly one source key (``inline``, ``jsonl``, ``sharegpt``, ``synthetic``,
``shared_prefix``, ``trace``); the class registered under that key parses its block and then hands
conversations to the request builder. Adding a source is adding one module here that defines a
``PromptSource`` subclass decorated with ``@register("name")`` (guidellm registers its dataset
deserializers the same way); the loader, ``chatbench validate`` and the builder find it by name.

A source either holds a fixed pool (``conversations``; the builder draws from it at random unless
the source says otherwise in ``next_conversation``) or generates conversations on demand (synthetic
prompts without a ``count``). A source may also give each conversation its own send time
(``schedule``: trace replay), which makes the run's arrivals follow it.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from bench.profiles import ApiProfile
from bench.scenario.checks import Where
from bench.scenario.plan import Conversation

__all__ = ["Draw", "FileSource", "PromptSource", "SourceContext", "get_source", "register", "source_names"]


@dataclass(frozen=True)
class SourceContext:
    """What a source's parser gets: where errors point, how to resolve files, the set's settings."""

    where: Where
    key: str  # the key path of the source's block, e.g. prompt_sets[1].jsonl
    base_dir: Path  # relative file names are from the scenario file's folder
    profile: ApiProfile
    seed: int
    set_name: str
    multi_turn: bool
    max_turns: int | None
    counter: Callable[[str], int]

    def file(self, raw: Any, key: str | None = None) -> Path:
        """A file path named in the block, resolved against the scenario's folder (not checked)."""
        return (self.base_dir / self.where.string(raw, key or self.key)).resolve()


@dataclass
class Draw:
    """What the builder lends a source to pick one conversation (one per simulated user)."""

    prompt_set: str  # the set's name
    pick_rng: random.Random  # which conversation
    text_rng: random.Random  # generated text
    index: int  # how many conversations this builder drew from this set before
    seed: int  # the builder's seed
    counter: Callable[[str], int] | None  # the scenario's tokenizer, when it has one


class PromptSource:
    """A parsed source block. Subclasses set ``name`` (via ``register``) and implement ``parse``."""

    name: ClassVar[str] = ""
    conversations: tuple[Conversation, ...] = ()  # the fixed pool; empty for on-demand sources
    path: Path | None = None  # the file it read, when it read one
    takes_file: ClassVar[bool] = False  # the block is a file name (the set is then named after it)

    @classmethod
    def parse(cls, ctx: SourceContext, raw: Any) -> PromptSource:
        raise NotImplementedError

    @property
    def multi_turn(self) -> bool:
        """True when a conversation may have more than one turn."""
        return any(len(c.turns) > 1 for c in self.conversations)

    @property
    def scheduled(self) -> bool:
        """True when the conversations carry their own send times (``Conversation.at_s``)."""
        return False

    def next_conversation(self, draw: Draw) -> Conversation:
        """The next conversation for one builder: a random one of the pool by default."""
        return draw.pick_rng.choice(self.conversations)

    def sample(
        self, n: int, seed: int, counter: Callable[[str], int], prompt_set: str
    ) -> Sequence[Conversation]:
        """Conversations to describe the set with (``chatbench validate``): the pool by default."""
        return self.conversations

    def describe(self) -> str:
        """One phrase for ``chatbench validate``: the source and its file."""
        return f"{self.name} {self.path}" if self.path else self.name

    def to_data(self) -> dict[str, Any]:
        """What ``scenario.json`` keeps about the source beyond its name, path and pool size."""
        return {}


@dataclass(frozen=True)
class FileSource(PromptSource):
    """A source whose block is one file name; subclasses say how to ``read`` the file."""

    path: Path | None
    conversations: tuple[Conversation, ...] = ()
    takes_file: ClassVar[bool] = True

    @classmethod
    def parse(cls, ctx: SourceContext, raw: Any) -> PromptSource:
        path = ctx.file(raw)
        return cls(path, cls.read(ctx, path))

    @classmethod
    def read(cls, ctx: SourceContext, path: Path) -> tuple[Conversation, ...]:
        raise NotImplementedError


_REGISTRY: dict[str, type[PromptSource]] = {}
S = TypeVar("S", bound=type[PromptSource])


def register(name: str) -> Callable[[S], S]:
    """Class decorator: the source block key ``name`` is parsed by this class."""

    def add(cls: S) -> S:
        if name in _REGISTRY:
            raise ValueError(f"prompt source {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


_ORDER = ("inline", "jsonl", "sharegpt", "synthetic")


def _discover() -> None:
    modules = [m.name for m in pkgutil.iter_modules(__path__)]
    for name in sorted(modules, key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m)):
        importlib.import_module(f"{__name__}.{name}")


def source_names() -> tuple[str, ...]:
    """The registered source keys, in the order the docs list them."""
    return tuple(_REGISTRY)


def get_source(name: str) -> type[PromptSource]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"prompt source {name!r} is not registered; available: {', '.join(_REGISTRY)}"
        ) from None


_discover()
