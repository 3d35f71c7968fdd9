"""``load.cancel``: a share of requests the client abandons on purpose, as users closing a tab do.

    load:
      cancel: {share: 0.2, after_s: 0.5}      # or {share: 0.2, after_tokens: 8}

Each request is picked with probability ``share`` (seeded, per simulated user). A picked request is
abandoned ``after_s`` seconds after it was sent (for a stream whose response head comes later, when
the head arrives), or once ``after_tokens`` output tokens arrived (streams only: a non-streamed answer
has no tokens before its end, so it is not cancelled by token count). Its record gets the error kind
``client_cancelled``: counted apart, never as a server failure, and left out of latency figures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bench.scenario.checks import Where, join

__all__ = ["Cancel", "parse_cancel"]


@dataclass(frozen=True)
class Cancel:
    share: float
    after_s: float | None = None
    after_tokens: int | None = None

    def draw(self, rng: random.Random) -> tuple[float | None, int | None]:
        """(after_s, after_tokens) for one request; (None, None) when it is not cancelled."""
        if self.share <= 0 or rng.random() >= self.share:
            return None, None
        return self.after_s, self.after_tokens

    def to_dict(self) -> dict[str, Any]:
        return {"share": self.share, "after_s": self.after_s, "after_tokens": self.after_tokens}


def parse_cancel(where: Where, raw: Any, key: str) -> Cancel:
    block = where.mapping(raw, key)
    where.known_keys(block, key, ("share", "after_s", "after_tokens"))
    share = where.number(where.required(block, key, "share"), join(key, "share"), lo=0, hi=1)
    given = [k for k in ("after_s", "after_tokens") if block.get(k) is not None]
    if len(given) != 1:
        raise where.error(
            key, "give exactly one of after_s (seconds after sending) or after_tokens (output tokens)"
        )
    if given[0] == "after_s":
        return Cancel(share, after_s=where.duration(block["after_s"], join(key, "after_s"), positive=False))
    return Cancel(share, after_tokens=where.integer(block["after_tokens"], join(key, "after_tokens"), lo=1))
