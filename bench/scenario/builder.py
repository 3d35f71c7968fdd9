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

from bench.scenario.model import Scenario
from bench.scenario.plan import SAMPLING_KEYS, Conversation, Message, RequestPlan
from bench.scenario.sampling import FLOAT_KEYS, Expected, SamplingSpec
from bench.scenario.sources import Draw
from bench.scenario.target import target_counter

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
        self._cancel_rng = random.Random(f"{self.seed}:cancel")
        self._weights = [s.weight for s in scenario.prompt_sets]
        self._grid_step: dict[str, int] = {}
        self._grid_offset = self.seed - scenario.seed
        self._drawn: dict[str, int] = {}  # conversations drawn per prompt set
        self._counter = target_counter(scenario.target) if scenario.target.tokenizer is not None else None
        self._profile = scenario.target.api

    def next_conversation(self) -> Conversation:
        """A prompt set by weight, then the conversation its source gives (see ``PromptSource``)."""
        sets = self.scenario.prompt_sets
        prompt_set = sets[0] if len(sets) == 1 else self._pick_rng.choices(sets, weights=self._weights)[0]
        index = self._drawn.get(prompt_set.name, 0)
        self._drawn[prompt_set.name] = index + 1
        draw = Draw(prompt_set.name, self._pick_rng, self._text_rng, index, self.seed, self._counter)
        return prompt_set.source.next_conversation(draw)

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
        profile = self._profile
        sent: dict[str, float | int | None] = {}
        for key in SAMPLING_KEYS:
            value = values.get(key) if key in profile.sampling_keys else None
            if value is not None:
                value = float(value) if key in FLOAT_KEYS else int(value)
            sent[key] = value
        stream = spec.stream.draw(self._stream_rng)
        if stream and not profile.stream_with_tools and conversation.has_tool_turns:
            stream = False  # e.g. the seed API: streaming is not supported with tools
        messages = [dict(m) for m in history] + [dict(m) for m in conversation.turns[turn]]
        body: dict[str, Any] = profile.body(
            model=self.scenario.target.model,
            messages=messages,
            stream=stream,
            sampling=sent,
            options=self.scenario.target.options,
            extra=conversation.extra,
        )
        cancel = self.scenario.load.cancel
        after_s, after_tokens = cancel.draw(self._cancel_rng) if cancel is not None else (None, None)
        return RequestPlan(
            body=body,
            stream=stream,
            sampling=sent,
            prompt_set=conversation.prompt_set,
            prompt_id=conversation.prompt_id,
            turn=turn,
            messages=messages,
            cancel_after_s=after_s,
            cancel_after_tokens=after_tokens,
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
