"""``jsonl``: one conversation per line of a JSONL file, with per-line sampling and expected lengths."""

from __future__ import annotations

from pathlib import Path

from bench.scenario.plan import Conversation
from bench.scenario.prompts import load_jsonl
from bench.scenario.sources import FileSource, SourceContext, register


@register("jsonl")
class JsonlSource(FileSource):
    @classmethod
    def read(cls, ctx: SourceContext, path: Path) -> tuple[Conversation, ...]:
        return load_jsonl(
            ctx.where,
            path,
            ctx.key,
            prompt_set=ctx.set_name,
            multi_turn=ctx.multi_turn,
            max_turns=ctx.max_turns,
            profile=ctx.profile,
        )
