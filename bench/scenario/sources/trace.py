"""``trace``: replay a request trace at its own times (open loop), with its prompt and output lengths.

    trace:
      path: traces/mooncake-sample.jsonl
      format: mooncake          # mooncake | azure | burstgpt | chatbench; default: guessed from line 1
      time_scale: 1.0           # trace gaps are multiplied by this (0.5: twice as fast)
      start_s: 0                # keep rows from this trace time on (seconds, before time_scale)
      end_s: null               # ... up to this trace time
      max_requests: null        # ... and at most this many rows
      block_tokens: 512         # prompt tokens per hash_ids block (mooncake)
      language: en              # of the synthesised prompts

Length-only rows get a synthetic prompt of exactly their token length (by chatbench's token rule, which
the mock uses; at most that length by a ``target.tokenizer``). Rows with ``hash_ids`` are built block
by block: each id's text is generated from the scenario seed and the id alone, so equal ids give
equal text and the trace's prefix sharing reaches the server. The output length becomes the
conversation's expected output length (and ``max_tokens`` under a profile that sends it).

The conversations keep the trace's order and their send times (``Conversation.at_s``); the scenario
then runs open loop on that schedule (``load.arrival.process: trace``), split over load-generator
processes without reordering or duplication (process k of K sends rows k, k+K, ...).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.scenario.checks import join
from bench.scenario.plan import Conversation, Message
from bench.scenario.prompts import conversation_from_messages
from bench.scenario.sources import Draw, PromptSource, SourceContext, register
from bench.scenario.traces import TRACE_FORMATS, TraceRow, guess_format, read_trace
from bench.scenario.words import generate_pieces, generate_text, take_tokens
from bench.tokens import count_tokens

__all__ = ["TraceSource"]

_KEYS = ("path", "format", "time_scale", "start_s", "end_s", "max_requests", "block_tokens", "language")


@register("trace")
@dataclass(frozen=True)
class TraceSource(PromptSource):
    path: Path | None
    format: str = "mooncake"
    time_scale: float = 1.0
    start_s: float = 0.0
    end_s: float | None = None
    max_requests: int | None = None
    block_tokens: int = 512
    language: str = "en"
    conversations: tuple[Conversation, ...] = ()
    takes_file: ClassVar[bool] = False

    @property
    def scheduled(self) -> bool:
        return True

    @property
    def span_s(self) -> float:
        """Seconds from the first send to the last (after time_scale)."""
        return max((c.at_s or 0.0) for c in self.conversations) if self.conversations else 0.0

    @classmethod
    def parse(cls, ctx: SourceContext, raw: Any) -> TraceSource:
        where, key = ctx.where, ctx.key
        if isinstance(raw, str):
            raw = {"path": raw}
        block = where.mapping(raw, key)
        where.known_keys(block, key, _KEYS)
        pkey = join(key, "path")
        path = ctx.file(where.required(block, key, "path"), pkey)
        if not path.is_file():
            raise where.error(
                pkey, f"file not found: {path} (relative paths are from the scenario file's folder)"
            )
        fkey = join(key, "format")
        if block.get("format") is not None:
            fmt = where.choice(block["format"], fkey, TRACE_FORMATS)
        else:
            guessed = guess_format(path)
            if guessed is None:
                raise where.error(
                    fkey,
                    f"cannot tell the format of {path.name} from its first line; "
                    f"give format: one of {', '.join(TRACE_FORMATS)}",
                )
            fmt = guessed
        scale = where.number(block.get("time_scale", 1.0), join(key, "time_scale"), lo=0, lo_open=True)
        start_s = where.number(block.get("start_s", 0.0), join(key, "start_s"), lo=0)
        end_s = None
        if block.get("end_s") is not None:
            end_s = where.number(block["end_s"], join(key, "end_s"), lo=0)
            if end_s <= start_s:
                raise where.error(join(key, "end_s"), f"{end_s:g} must be after start_s ({start_s:g})")
        limit = (
            where.integer(block["max_requests"], join(key, "max_requests"), lo=1)
            if block.get("max_requests") is not None
            else None
        )
        block_tokens = where.integer(
            block.get("block_tokens", 512), join(key, "block_tokens"), lo=1, hi=1_000_000
        )
        language = where.choice(block.get("language", "en"), join(key, "language"), ("en", "zh"))
        try:
            rows = read_trace(path, fmt)
        except (OSError, UnicodeDecodeError) as exc:
            raise where.error(pkey, f"cannot read {path} as UTF-8 text: {exc}") from None
        kept = [r for r in rows if r.t_s >= start_s and (end_s is None or r.t_s <= end_s)]
        if limit is not None:
            kept = kept[:limit]
        if not kept:
            raise where.error(key, f"no row of {path.name} is within start_s/end_s")
        source = cls(path, fmt, scale, start_s, end_s, limit, block_tokens, language)
        texts = _BlockTexts(ctx.seed, language, block_tokens, ctx.counter)
        t_first = kept[0].t_s
        conversations = tuple(
            source._conversation(ctx, row, (row.t_s - t_first) * scale, texts) for row in kept
        )
        return cls(path, fmt, scale, start_s, end_s, limit, block_tokens, language, conversations)

    def _conversation(
        self, ctx: SourceContext, row: TraceRow, at_s: float, texts: _BlockTexts
    ) -> Conversation:
        prompt_id = f"line-{row.line}"
        overrides: dict[str, float | int] = {}
        if row.output_tokens and "max_tokens" in ctx.profile.sampling_keys:
            overrides["max_tokens"] = max(1, row.output_tokens)
        if row.messages:
            return conversation_from_messages(
                ctx.where,
                join(ctx.key, "path"),
                row.messages,
                prompt_set=ctx.set_name,
                prompt_id=prompt_id,
                multi_turn=False,
                expected_output_tokens=row.output_tokens or None,
                sampling_overrides=overrides,
                at_s=at_s,
            )
        content = texts.prompt(row, random.Random(f"{ctx.seed}:trace:{row.line}"))
        user: Message = {"role": "user", "content": content}
        return Conversation(
            prompt_set=ctx.set_name,
            prompt_id=prompt_id,
            turns=((user,),),
            expected_output_tokens=row.output_tokens or None,
            sampling_overrides=overrides,
            at_s=at_s,
        )

    def next_conversation(self, draw: Draw) -> Conversation:
        """Outside a replay (``chatbench validate``, a closed-loop run): the rows in trace order."""
        return self.conversations[draw.index % len(self.conversations)]

    def describe(self) -> str:
        return f"trace {self.path} ({self.format}, time_scale {self.time_scale:g}, {self.span_s:.1f} s)"

    def to_data(self) -> dict[str, Any]:
        return {
            "trace": {
                "format": self.format,
                "time_scale": self.time_scale,
                "start_s": self.start_s,
                "end_s": self.end_s,
                "max_requests": self.max_requests,
                "block_tokens": self.block_tokens,
                "language": self.language,
                "span_s": self.span_s,
            }
        }


class _BlockTexts:
    """The text of each hash id (generated once from the seed and the id), and whole prompts."""

    def __init__(self, seed: int, language: str, block_tokens: int, counter: Callable[[str], int]) -> None:
        self.seed = seed
        self.language = language
        self.block_tokens = block_tokens
        self.exact = counter is count_tokens
        self.counter = counter
        self.sep = "" if language == "zh" else " "
        self._blocks: dict[int, list[str]] = {}

    def _block(self, hash_id: int) -> list[str]:
        pieces = self._blocks.get(hash_id)
        if pieces is None:
            rng = random.Random(f"{self.seed}:block:{hash_id}")
            pieces = generate_pieces(self.language, self.block_tokens, rng)
            self._blocks[hash_id] = pieces
        return pieces

    def prompt(self, row: TraceRow, rng: random.Random) -> str:
        total = row.prompt_tokens or 0
        if not row.hash_ids:
            return generate_text(self.language, max(1, total), rng, counter=self.counter)
        parts: list[str] = []
        left = total
        for hash_id in row.hash_ids:
            if left <= 0:
                break
            take = min(self.block_tokens, left)
            parts.extend(take_tokens(self._block(hash_id), take))
            left -= take
        if left > 0:  # the row is longer than its blocks: the rest is its own
            parts.extend(generate_pieces(self.language, left, rng))
        text = self.sep.join(parts)
        return text if text else generate_text(self.language, 1, rng)
