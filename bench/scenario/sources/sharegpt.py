"""``sharegpt``: ShareGPT JSON files, as single prompts or replayed multi-turn conversations."""

from __future__ import annotations

from pathlib import Path

from bench.scenario.plan import Conversation
from bench.scenario.prompts import load_sharegpt
from bench.scenario.sources import FileSource, SourceContext, register


@register("sharegpt")
class ShareGptSource(FileSource):
    @classmethod
    def read(cls, ctx: SourceContext, path: Path) -> tuple[Conversation, ...]:
        return load_sharegpt(
            ctx.where,
            path,
            ctx.key,
            prompt_set=ctx.set_name,
            multi_turn=ctx.multi_turn,
            max_turns=ctx.max_turns,
            counter=ctx.counter,
        )
