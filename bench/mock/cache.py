"""The mock's prefix cache: a bounded LRU of prompt blocks, as vLLM's automatic prefix caching keeps.

A prompt is the sequence of its messages' tokens (chatbench's token rule), each message preceded by
its role. It is cut into blocks of ``prefix_block_tokens`` tokens; block k is identified by a hash of
block k's tokens chained with block k-1's id, so a block matches only when everything before it
matches too. On admission a request's leading blocks that are in the cache are its
``cached_tokens`` (a whole number of blocks, at most the prompt minus one token, so the last token
is always computed); every full block of the prompt is then (re)inserted as most recently used,
and the least recently used blocks beyond ``prefix_cache_blocks`` are evicted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from bench.tokens import split_tokens

__all__ = ["PrefixCache"]


class PrefixCache:
    """Bounded LRU of block ids; ``admit(messages)`` returns the cached prefix length in tokens."""

    __slots__ = ("block_tokens", "blocks", "capacity", "hits", "lookups")

    def __init__(self, capacity: int, block_tokens: int) -> None:
        self.capacity = capacity
        self.block_tokens = block_tokens
        self.blocks: OrderedDict[int, None] = OrderedDict()
        self.lookups = 0
        self.hits = 0

    @staticmethod
    def tokens(messages: Sequence[Mapping[str, Any]]) -> list[str]:
        out: list[str] = []
        for message in messages:
            out.append(f"<{message.get('role')}>")
            content = message.get("content")
            if isinstance(content, str):
                out.extend(split_tokens(content))
        return out

    def admit(self, messages: Sequence[Mapping[str, Any]], prompt_tokens: int) -> int:
        """Cached tokens of this prompt (then its blocks are cached for the requests after it)."""
        tokens = self.tokens(messages)
        b = self.block_tokens
        ids: list[int] = []
        previous = 0
        for start in range(0, len(tokens) - b + 1, b):
            previous = hash((previous, *tokens[start : start + b]))
            ids.append(previous)
        cached_blocks = 0
        for block_id in ids:
            if block_id not in self.blocks:
                break
            cached_blocks += 1
        for block_id in ids:
            self.blocks[block_id] = None
            self.blocks.move_to_end(block_id)
        while len(self.blocks) > self.capacity:
            self.blocks.popitem(last=False)
        self.lookups += 1
        cached = min(cached_blocks * b, max(prompt_tokens - 1, 0))
        if cached:
            self.hits += 1
        return cached
