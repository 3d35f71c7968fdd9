"""``shared_prefix``: N groups of prompts, each group sharing one long prefix (a system prompt or a
document) followed by per-request suffixes, in a controllable order (SGLang's generated-shared-prefix).

    shared_prefix:
      groups: 4                 # N distinct prefixes
      prefix_tokens: 1000       # P tokens per prefix (a number or a distribution)
      suffix_tokens: 100        # S tokens per request (a number or a distribution)
      prompts_per_group: 16     # suffixes per group (the pool is groups x prompts_per_group)
      order: round_robin        # round_robin | random | grouped (all of one group, then the next)
      prefix_role: system       # system: the prefix is a system message; user: it starts the user message
      language: en
      output_tokens: 64         # expected output length (max_tokens with {expected: ...})

Texts are generated once from the scenario seed, each of its exact token length (by chatbench's rule,
or within the length by ``target.tokenizer``). The order is per simulated user (per arrival source in
open loop): with ``round_robin`` consecutive requests of one user go to different groups; with
``grouped`` a user sends every prompt of group 0, then of group 1, ...
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from bench.scenario.checks import join
from bench.scenario.distributions import Distribution, parse_distribution
from bench.scenario.plan import Conversation, Message
from bench.scenario.sources import Draw, PromptSource, SourceContext, register
from bench.scenario.sources.synthetic import MAX_PROMPT_TOKENS
from bench.scenario.words import generate_text

__all__ = ["ORDERS", "SharedPrefixSource"]

ORDERS = ("round_robin", "random", "grouped")
_KEYS = (
    "groups",
    "prefix_tokens",
    "suffix_tokens",
    "prompts_per_group",
    "order",
    "prefix_role",
    "language",
    "output_tokens",
)


@register("shared_prefix")
@dataclass(frozen=True)
class SharedPrefixSource(PromptSource):
    groups: int = 1
    prefix_tokens: Distribution | None = None
    suffix_tokens: Distribution | None = None
    prompts_per_group: int = 16
    order: str = "round_robin"
    prefix_role: str = "system"
    language: str = "en"
    conversations: tuple[Conversation, ...] = ()
    takes_file: ClassVar[bool] = False

    @classmethod
    def parse(cls, ctx: SourceContext, raw: Any) -> SharedPrefixSource:
        where, key = ctx.where, ctx.key
        block = where.mapping(raw, key)
        where.known_keys(block, key, _KEYS)

        def length(name: str, what: str) -> Distribution:
            return parse_distribution(
                where,
                where.required(block, key, name),
                join(key, name),
                integer=True,
                lo=1,
                hi=MAX_PROMPT_TOKENS,
                what=what,
            )

        groups = where.integer(block.get("groups", 1), join(key, "groups"), lo=1, hi=10_000)
        prefix_tokens = length("prefix_tokens", "a prefix length in tokens")
        suffix_tokens = length("suffix_tokens", "a suffix length in tokens")
        per_group = where.integer(
            block.get("prompts_per_group", 16), join(key, "prompts_per_group"), lo=1, hi=100_000
        )
        if groups * per_group > 1_000_000:
            raise where.error(key, f"groups x prompts_per_group is {groups * per_group}; at most 1000000")
        order = where.choice(block.get("order", "round_robin"), join(key, "order"), ORDERS)
        role = where.choice(block.get("prefix_role", "system"), join(key, "prefix_role"), ("system", "user"))
        language = where.choice(block.get("language", "en"), join(key, "language"), ("en", "zh"))
        output = None
        if block.get("output_tokens") is not None:
            output = length("output_tokens", "an output length in tokens")
        rng = random.Random(f"{ctx.seed}:shared_prefix:{ctx.set_name}")
        sep = "" if language == "zh" else " "
        pool: list[Conversation] = []
        for g in range(groups):
            prefix = generate_text(
                language, max(1, round(prefix_tokens.sample(rng))), rng, counter=ctx.counter
            )
            for i in range(per_group):
                suffix = generate_text(
                    language, max(1, round(suffix_tokens.sample(rng))), rng, counter=ctx.counter
                )
                turn: tuple[Message, ...]
                if role == "system":
                    turn = ({"role": "system", "content": prefix}, {"role": "user", "content": suffix})
                else:
                    turn = ({"role": "user", "content": f"{prefix}{sep}{suffix}"},)
                expected = None if output is None else max(1, round(output.sample(rng)))
                pool.append(
                    Conversation(
                        prompt_set=ctx.set_name,
                        prompt_id=f"g{g}-{i}",
                        turns=(turn,),
                        expected_output_tokens=expected,
                    )
                )
        return cls(groups, prefix_tokens, suffix_tokens, per_group, order, role, language, tuple(pool))

    def next_conversation(self, draw: Draw) -> Conversation:
        n, g, p = draw.index, self.groups, self.prompts_per_group
        if self.order == "random":
            return draw.pick_rng.choice(self.conversations)
        if self.order == "grouped":
            return self.conversations[n % (g * p)]
        group, item = n % g, (n // g) % p  # round_robin
        return self.conversations[group * p + item]

    def sample(self, n: int, seed: int, counter: Any, prompt_set: str) -> Sequence[Conversation]:
        return self.conversations

    def describe(self) -> str:
        return f"shared_prefix ({self.groups} groups, {self.order})"

    def to_data(self) -> dict[str, Any]:
        assert self.prefix_tokens is not None and self.suffix_tokens is not None
        return {
            "shared_prefix": {
                "groups": self.groups,
                "prefix_tokens": self.prefix_tokens.to_data(),
                "suffix_tokens": self.suffix_tokens.to_data(),
                "prompts_per_group": self.prompts_per_group,
                "order": self.order,
                "prefix_role": self.prefix_role,
                "language": self.language,
            }
        }
