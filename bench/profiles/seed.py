"""The ``seed`` profile: exactly the seven body keys the seed server documents, and nothing else.

``model``, ``messages``, ``stream``, ``temperature``, ``top_p``, ``presence_penalty`` and
``frequency_penalty``: every body holds all seven (the sampling values default to the seed
document's own request example). Messages may hold ``tool`` turns (content a JSON string) and
assistant turns with ``tool_calls``; the seed API does not stream with tools, so such a request is
sent with ``stream: false`` whatever the scenario's stream ratio (``chatbench validate`` says so).
"""

from __future__ import annotations

from bench.profiles import ApiProfile, register

SEED = register(
    ApiProfile(
        name="seed",
        help="seed sends only the seven documented keys",
        body_keys=frozenset(
            ("model", "messages", "stream", "temperature", "top_p", "presence_penalty", "frequency_penalty")
        ),
        sampling_keys=("temperature", "top_p", "presence_penalty", "frequency_penalty"),
        # The values of the seed document's own request example.
        defaults={"temperature": 0.0, "top_p": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0},
        required=True,
        stream_default=False,
        stream_with_tools=False,
    )
)
