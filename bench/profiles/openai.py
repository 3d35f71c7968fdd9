"""The ``openai`` profile: OpenAI-compatible servers (vLLM, llama.cpp, SGLang, TGI, LMDeploy, Ollama).

Beyond the seed keys a body may hold ``max_tokens``, ``stream_options`` (``include_usage`` on
every stream, so the last chunk carries the token counts; with ``target.options.continuous_usage_stats``
also vLLM's per-chunk counts), and the conversation's own ``tools``/``tool_choice``. A sampling key
set to null is not sent; keys the scenario does not set are left to the server's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.profiles import ApiProfile, OptionSpec, register


class OpenAiProfile(ApiProfile):
    def extend(self, body: dict[str, Any], *, stream: bool, options: Mapping[str, bool]) -> None:
        if stream:
            # Ask for the token counts in the last chunk; servers that ignore it are handled downstream.
            stream_options: dict[str, bool] = {"include_usage": True}
            if options.get("continuous_usage_stats"):
                stream_options["continuous_usage_stats"] = True
            body["stream_options"] = stream_options


OPENAI = register(
    OpenAiProfile(
        name="openai",
        help="openai adds max_tokens, stream_options, tools",
        body_keys=frozenset(
            (
                "model",
                "messages",
                "stream",
                "temperature",
                "top_p",
                "presence_penalty",
                "frequency_penalty",
                "max_tokens",
                "max_completion_tokens",
                "stream_options",
                "seed",
                "stop",
                "tools",
                "tool_choice",
            )
        ),
        sampling_keys=("temperature", "top_p", "presence_penalty", "frequency_penalty", "max_tokens"),
        options=(
            OptionSpec(
                "continuous_usage_stats",
                "ask for usage on every chunk (stream_options.continuous_usage_stats, vLLM), so each "
                "chunk's token count is known",
            ),
        ),
    )
)
