"""``synthetic``: generated prompts of a token-length distribution, in English or Chinese.

With ``count`` the set is a fixed pool generated once from the scenario seed; without it every
request gets a fresh prompt. ``prefix_tokens`` starts every first user message with the same text
(generated once), which lets a run show what a server's prefix cache does.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from bench.scenario.checks import Where, join
from bench.scenario.distributions import Distribution, parse_distribution
from bench.scenario.plan import Conversation, Message
from bench.scenario.sources import Draw, PromptSource, SourceContext, register
from bench.scenario.words import generate_text
from bench.tokens import count_tokens

__all__ = ["MAX_PROMPT_TOKENS", "SyntheticSpec", "read_words", "read_words_file", "synthetic_conversation"]

MAX_PROMPT_TOKENS = 2_000_000
LANGUAGES = ("en", "zh")
_KEYS = (
    "language",
    "prompt_tokens",
    "prefix_tokens",
    "output_tokens",
    "count",
    "turns",
    "system",
    "words_file",
)


@register("synthetic")
@dataclass(frozen=True)
class SyntheticSpec(PromptSource):
    """Generated prompts of a target length in tokens, from a word source."""

    language: Literal["en", "zh"]
    prompt_tokens: Distribution
    words_file: Path | None = None
    count: int | None = None  # a fixed pool of this many prompts; None: a fresh prompt every time
    turns: int = 1  # user turns per conversation
    system: str | None = None
    output_tokens: Distribution | None = None  # expected output length, carried on each conversation
    # A shared start of every first user message (generated once from the scenario seed): lets a
    # run show what a server's prefix cache does. Counted within prompt_tokens.
    prefix_tokens: int = 0
    prefix: str = ""
    conversations: tuple[Conversation, ...] = ()  # the pool when ``count`` is set

    @property
    def path(self) -> Path | None:  # type: ignore[override]
        return None

    @property
    def multi_turn(self) -> bool:
        return self.turns > 1

    @classmethod
    def parse(cls, ctx: SourceContext, raw: Any) -> SyntheticSpec:
        where, key = ctx.where, ctx.key
        block = where.mapping(raw, key)
        where.known_keys(block, key, _KEYS)
        language = where.choice(block.get("language", "en"), join(key, "language"), LANGUAGES)
        prompt_tokens = parse_distribution(
            where,
            where.required(block, key, "prompt_tokens"),
            join(key, "prompt_tokens"),
            integer=True,
            lo=1,
            hi=MAX_PROMPT_TOKENS,
            what="a prompt length in tokens",
        )
        output_tokens = None
        if block.get("output_tokens") is not None:
            output_tokens = parse_distribution(
                where,
                block["output_tokens"],
                join(key, "output_tokens"),
                integer=True,
                lo=1,
                what="an output length in tokens",
                hi=MAX_PROMPT_TOKENS,
            )
        count = (
            where.integer(block["count"], join(key, "count"), lo=1, hi=100_000)
            if block.get("count") is not None
            else None
        )
        turns = where.integer(block.get("turns", 1), join(key, "turns"), lo=1, hi=1000)
        if turns > 1 and not ctx.multi_turn:
            raise where.error(
                join(key, "turns"), "more than one turn needs multi_turn: true on the prompt set"
            )
        system = (
            where.string(block["system"], join(key, "system")) if block.get("system") is not None else None
        )
        words_file = None
        words: tuple[str, ...] | None = None
        if block.get("words_file") is not None:
            wkey = join(key, "words_file")
            words_file = ctx.file(block["words_file"], wkey)
            words = check_words_file(where, words_file, wkey)
        prefix_tokens = 0
        prefix = ""
        if block.get("prefix_tokens") is not None:
            pkey = join(key, "prefix_tokens")
            prefix_tokens = where.integer(block["prefix_tokens"], pkey, lo=0, hi=MAX_PROMPT_TOKENS)
            if prefix_tokens >= prompt_tokens.low:
                raise where.error(
                    pkey,
                    f"{prefix_tokens} must be below the shortest prompt_tokens ({prompt_tokens.low:g}): "
                    "the prefix is part of each prompt",
                )
            if prefix_tokens:
                rng = random.Random(f"{ctx.seed}:prefix:{ctx.set_name}")
                prefix = generate_text(language, prefix_tokens, rng, words=words, counter=ctx.counter)
        spec = cls(
            prefix_tokens=prefix_tokens,
            prefix=prefix,
            language=language,  # type: ignore[arg-type]
            prompt_tokens=prompt_tokens,
            words_file=words_file,
            count=count,
            turns=turns,
            system=system,
            output_tokens=output_tokens,
        )
        if count is None:
            return spec
        rng = random.Random(f"{ctx.seed}:synthetic:{ctx.set_name}")
        pool = tuple(
            synthetic_conversation(
                spec, rng, prompt_set=ctx.set_name, prompt_id=f"syn-{n}", words=words, counter=ctx.counter
            )
            for n in range(count)
        )
        return spec.with_pool(pool)

    def with_pool(self, pool: tuple[Conversation, ...]) -> SyntheticSpec:
        return replace(self, conversations=pool)

    def next_conversation(self, draw: Draw) -> Conversation:
        if self.conversations:
            return draw.pick_rng.choice(self.conversations)
        return synthetic_conversation(
            self,
            draw.text_rng,
            prompt_set=draw.prompt_set,
            prompt_id=f"syn-{draw.seed}-{draw.index + 1}",
            words=read_words(self),
            counter=draw.counter,
        )

    def sample(
        self, n: int, seed: int, counter: Callable[[str], int], prompt_set: str
    ) -> Sequence[Conversation]:
        if self.conversations:
            return self.conversations
        rng = random.Random(f"{seed}:summary:{prompt_set}")
        words = read_words(self)
        return [
            synthetic_conversation(
                self, rng, prompt_set=prompt_set, prompt_id=str(i), words=words, counter=counter
            )
            for i in range(n)
        ]

    def describe(self) -> str:
        return "synthetic"

    def to_data(self) -> dict[str, Any]:
        return {
            "synthetic": {
                "prefix_tokens": self.prefix_tokens,
                "language": self.language,
                "prompt_tokens": self.prompt_tokens.to_data(),
                "words_file": None if self.words_file is None else str(self.words_file),
                "count": self.count,
                "turns": self.turns,
                "system": self.system,
                "output_tokens": None if self.output_tokens is None else self.output_tokens.to_data(),
            }
        }


@functools.lru_cache(maxsize=8)
def read_words_file(path: str) -> tuple[str, ...]:
    return tuple(Path(path).read_text(encoding="utf-8").split())


def check_words_file(where: Where, path: Path, key: str) -> tuple[str, ...]:
    """The words of a ``words_file``, or one error naming the key (missing, unreadable, empty)."""
    if not path.is_file():
        raise where.error(key, f"file not found: {path} (relative paths are from the scenario file's folder)")
    try:
        words = read_words_file(str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(key, f"cannot read {path} as UTF-8 text: {exc}") from None
    if not any(count_tokens(w) > 0 for w in words):
        raise where.error(key, f"{path} holds no words (whitespace-separated words expected)")
    return words


def read_words(spec: SyntheticSpec) -> tuple[str, ...] | None:
    """The words of a synthetic set's ``words_file`` (None: the built-in list for its language)."""
    return None if spec.words_file is None else read_words_file(str(spec.words_file))


def synthetic_conversation(
    spec: SyntheticSpec,
    rng: random.Random,
    *,
    prompt_set: str,
    prompt_id: str,
    words: Sequence[str] | None,
    counter: Callable[[str], int] | None,
) -> Conversation:
    """A generated conversation: ``spec.turns`` user messages, each of a drawn length in tokens."""
    turns: list[tuple[Message, ...]] = []
    sep = "" if spec.language == "zh" else " "
    for t in range(spec.turns):
        length = max(1, round(spec.prompt_tokens.sample(rng)))
        if t == 0 and spec.prefix:
            rest = generate_text(
                spec.language, max(1, length - spec.prefix_tokens), rng, words=words, counter=counter
            )
            content = f"{spec.prefix}{sep}{rest}"
        else:
            content = generate_text(spec.language, length, rng, words=words, counter=counter)
        user: Message = {"role": "user", "content": content}
        if t == 0 and spec.system:
            turns.append(({"role": "system", "content": spec.system}, user))
        else:
            turns.append((user,))
    expected = None if spec.output_tokens is None else max(1, round(spec.output_tokens.sample(rng)))
    return Conversation(
        prompt_set=prompt_set, prompt_id=prompt_id, turns=tuple(turns), expected_output_tokens=expected
    )
