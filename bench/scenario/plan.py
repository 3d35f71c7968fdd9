"""What the load side asks of a scenario: conversations to play and the exact request bodies.

This is the contract between ``bench.scenario`` (which builds these) and ``bench.load`` (which
sends them). A single prompt is a conversation of one turn; a multi-turn conversation has several
user turns, and the load side appends the server's actual answer as the assistant turn before it
asks for the next request body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["SAMPLING_KEYS", "Conversation", "Message", "RequestPlan", "Role"]

Role = Literal["system", "user", "assistant", "tool"]
Message = Mapping[str, Any]
"""``{"role": ..., "content": ...}`` exactly as sent; an assistant turn may hold ``tool_calls`` and a
``tool`` turn a ``tool_call_id`` (its content is a JSON string)."""

SAMPLING_KEYS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "max_tokens",
)
"""The sampling values a record carries (``max_tokens`` only ever sent in the ``openai`` profile)."""


@dataclass(frozen=True)
class Conversation:
    """One item drawn from a prompt set: the user turns to play, in order."""

    prompt_set: str
    prompt_id: str
    # Each turn is the messages to append before that turn's request: the first usually holds a
    # system message and/or earlier context plus a user message; later turns hold one user message.
    turns: tuple[tuple[Message, ...], ...]
    expected_output_tokens: int | None = None
    # Per-line sampling overrides from a JSONL prompt file (win over the scenario's sampling).
    sampling_overrides: Mapping[str, float | int] = field(default_factory=dict)
    # When a trace says this conversation starts, seconds after the trace's start (already scaled
    # by time_scale); None for sources without a schedule.
    at_s: float | None = None
    # Body keys of this conversation beyond the messages (``tools``, ``tool_choice``), checked
    # against the profile at load time.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_tool_turns(self) -> bool:
        """True when a message is a ``tool`` turn or an assistant turn with ``tool_calls``."""
        return any(m.get("role") == "tool" or m.get("tool_calls") for turn in self.turns for m in turn)


@dataclass(frozen=True)
class RequestPlan:
    """One request, ready to send."""

    body: Mapping[str, Any]  # the exact JSON body
    stream: bool
    sampling: Mapping[str, float | int | None]  # SAMPLING_KEYS -> value as sent (None: not sent)
    prompt_set: str
    prompt_id: str
    turn: int
    messages: Sequence[Message]  # the history the body carries (the body's "messages")
    # Abandon the request on purpose after this long / this many output tokens (load.cancel).
    cancel_after_s: float | None = None
    cancel_after_tokens: int | None = None
