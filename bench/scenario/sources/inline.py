"""``inline``: prompts written in the scenario file (strings, message lists, or ``{messages, id}``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.scenario.plan import Conversation
from bench.scenario.prompts import load_inline
from bench.scenario.sources import PromptSource, SourceContext, register


@register("inline")
@dataclass(frozen=True)
class InlineSource(PromptSource):
    conversations: tuple[Conversation, ...] = ()

    @classmethod
    def parse(cls, ctx: SourceContext, raw: Any) -> InlineSource:
        return cls(
            load_inline(
                ctx.where,
                raw,
                ctx.key,
                prompt_set=ctx.set_name,
                multi_turn=ctx.multi_turn,
                max_turns=ctx.max_turns,
                profile=ctx.profile,
            )
        )
