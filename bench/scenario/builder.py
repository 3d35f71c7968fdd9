"""Request bodies: which conversation a user plays next, and the exact JSON body of each turn.

One ``RequestBuilder`` per simulated user (the load side seeds it with ``scenario.seed + user
index``); given the same seed and the same calls it returns the same conversations and bodies.
Separate random streams serve the conversation choice, the sampling values, the stream flag and
synthetic text, so changing, say, the stream ratio does not change which prompts are played.

Sampling precedence for one request: a JSONL line's own ``sampling`` values, then the prompt set's
``sampling`` block, then the scenario's top-level ``sampling``, then the profile's defaults. Grid
keys cycle through every combination in order; each builder starts ``seed - scenario.seed``
combinations in, so users spread over the grid instead of all starting on the first combination.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from bench.scenario.loader import read_words, token_counter
from bench.scenario.model import Scenario
from bench.scenario.plan import SAMPLING_KEYS, Conversation, Message, RequestPlan
from bench.scenario.prompts import synthetic_conversation
from bench.scenario.sampling import FLOAT_KEYS, Expected, SamplingSpec

__all__ = ["RequestBuilder"]


class RequestBuilder:
    """Draws conversations and builds request bodies for one simulated user."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self._pick_rng = random.Random(f"{self.seed}:conversation")
        self._sampling_rng = random.Random(f"{self.seed}:sampling")
        self._stream_rng = random.Random(f"{self.seed}:stream")
        self._text_rng = random.Random(f"{self.seed}:synthetic")
        self._weights = [s.weight for s in scenario.prompt_sets]
        self._grid_step: dict[str, int] = {}
        self._grid_offset = self.seed - scenario.seed
        self._synthetic_count = 0
        self._counter = token_counter(scenario) if scenario.target.tokenizer is not None else None

    def next_conversation(self) -> Conversation:
        """A prompt set by weight, then one of its conversations (a fresh one for synthetic sets)."""
        prompt_set = self._pick_rng.choices(self.scenario.prompt_sets, weights=self._weights)[0]
        if prompt_set.conversations:
            return self._pick_rng.choice(prompt_set.conversations)
        assert prompt_set.synthetic is not None  # the loader only leaves synthetic sets without a pool
        self._synthetic_count += 1
        return synthetic_conversation(
            prompt_set.synthetic,
            self._text_rng,
            prompt_set=prompt_set.name,
            prompt_id=f"syn-{self.seed}-{self._synthetic_count}",
            words=read_words(prompt_set.synthetic),
            counter=self._counter,
        )

    def build(self, conversation: Conversation, turn: int, history: Sequence[Message]) -> RequestPlan:
        """The request for ``turn`` (0-based) of ``conversation``, after ``history`` (earlier turns and
        the server's actual answers, as the load side recorded them)."""
        if not 0 <= turn < len(conversation.turns):
            raise ValueError(
                f"turn {turn} is out of range: conversation {conversation.prompt_id!r} has "
                f"{len(conversation.turns)} turn(s)"
            )
        spec = self._sampling_for(conversation.prompt_set)
        values = self._draw(spec, conversation.prompt_set)
        expected = conversation.expected_output_tokens
        if isinstance(spec.params.get("max_tokens"), Expected) and expected is not None:
            values["max_tokens"] = expected
        values.update(conversation.sampling_overrides)
        profile = self.scenario.target.profile
        allowed = FLOAT_KEYS if profile == "seed" else SAMPLING_KEYS
        sent: dict[str, float | int | None] = {}
        for key in SAMPLING_KEYS:
            value = values.get(key) if key in allowed else None
            if value is not None:
                value = float(value) if key in FLOAT_KEYS else int(value)
            sent[key] = value
        stream = spec.stream.draw(self._stream_rng)
        messages = [dict(m) for m in history] + [dict(m) for m in conversation.turns[turn]]
        body: dict[str, Any] = {"model": self.scenario.target.model, "messages": messages, "stream": stream}
        for key in SAMPLING_KEYS:
            if sent[key] is not None:
                body[key] = sent[key]
        if profile == "openai" and stream:
            # Ask for the token counts in the last chunk; servers that ignore it are handled downstream.
            body["stream_options"] = {"include_usage": True}
        return RequestPlan(
            body=body,
            stream=stream,
            sampling=sent,
            prompt_set=conversation.prompt_set,
            prompt_id=conversation.prompt_id,
            turn=turn,
            messages=messages,
        )

    def _sampling_for(self, prompt_set: str) -> SamplingSpec:
        found = self.scenario.prompt_set(prompt_set)
        return self.scenario.sampling if found is None else found.sampling

    def _draw(self, spec: SamplingSpec, prompt_set: str) -> dict[str, float | int | None]:
        step = 0
        if spec.grid_keys:
            step = self._grid_step.get(prompt_set, 0)
            self._grid_step[prompt_set] = step + 1
        return spec.draw(self._sampling_rng, self._grid_offset + step)
