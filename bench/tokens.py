"""Token counting without a model hub: chatbench's own deterministic rule, or a local tokenizer file.

``count_tokens`` is the rule the embedded mock server uses for ``usage`` and the rule synthetic prompts
are sized by, so a test knows the exact token counts in advance:

    one token per run of ASCII letters and digits ([A-Za-z0-9]+), plus one token per other
    non-space character (each CJK character, each punctuation mark or symbol).

"Hello, world!" is 4 tokens; "请介绍一下傅利叶公司" is 10. It is not any real model's tokenizer: to count
a real server's tokens when it sends no ``usage``, name a HF ``tokenizer.json`` file in the scenario
(``target.tokenizer``); nothing is ever downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from bench.errors import ScenarioError

__all__ = ["TokenCounter", "count_tokens", "load_tokenizer"]

_TOKEN = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")


def count_tokens(text: str) -> int:
    """Tokens in ``text`` by chatbench's rule (see the module docstring)."""
    return sum(1 for _ in _TOKEN.finditer(text))


def split_tokens(text: str) -> list[str]:
    """The tokens of ``text`` by chatbench's rule, in order (spaces dropped)."""
    return _TOKEN.findall(text)


class TokenCounter(Protocol):
    """Anything that counts the tokens of a text."""

    def __call__(self, text: str) -> int: ...


class _FileTokenizer:
    """A HF ``tokenizers`` tokenizer loaded from a local ``tokenizer.json``."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer  # optional dependency: chatbench[tokenizers]

        self._tokenizer = Tokenizer.from_file(str(path))

    def __call__(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def load_tokenizer(path: str | Path) -> TokenCounter:
    """Load a HF ``tokenizer.json`` (or a directory holding one) as a ``TokenCounter``."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise ScenarioError(f"tokenizer file not found: {p} (give a local HF tokenizer.json)")
    try:
        return _FileTokenizer(p)
    except ImportError as exc:
        raise ScenarioError(
            "a tokenizer file needs the 'tokenizers' package: pip install 'chatbench[tokenizers]'"
        ) from exc
    except Exception as exc:  # tokenizers raises its own Exception subclass on a broken file
        raise ScenarioError(f"cannot load tokenizer {p}: {exc}") from exc
