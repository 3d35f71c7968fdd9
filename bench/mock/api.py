"""The mock's API surface: request validation per profile and the exact bytes of every answer.

Validation happens once per request at the edge; what comes out is a ``ChatRequest`` the serving
model trusts. The answer builders produce OpenAI shapes: ``chat.completion`` for a plain answer and
``chat.completion.chunk`` SSE events for a stream (role chunk, content chunks, the finish chunk, an
optional usage chunk, then ``data: [DONE]``). Error bodies are OpenAI-style:
``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from bench.mock.settings import MockSettings
from bench.mock.text import is_chinese
from bench.profiles import SAMPLING_RANGES, get_profile
from bench.tokens import split_tokens

__all__ = ["ApiError", "ChatRequest", "error_body", "parse_chat_request"]

# What each profile accepts comes from the scenario side's profile registry (one definition).
SEED_KEYS = get_profile("seed").body_keys
ROLES = ("system", "user", "assistant", "tool")
_RANGES = {key: (spec.lo, spec.hi) for key, spec in SAMPLING_RANGES.items() if not spec.integer}


class ApiError(Exception):
    """A request the mock refuses; becomes an OpenAI-style error body with ``status``."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.type = type
        self.code = code

    def body(self) -> bytes:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> bytes:
    """An OpenAI-style error body."""
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


@dataclass(slots=True)
class ChatRequest:
    """A validated chat completion request."""

    messages: list[dict[str, str]]
    stream: bool
    temperature: float | None
    top_p: float | None
    presence_penalty: float | None
    frequency_penalty: float | None
    max_tokens: int | None  # max_completion_tokens wins over max_tokens (openai profile only)
    include_usage: bool
    continuous_usage: bool  # usage on every chunk (stream_options.continuous_usage_stats)
    seed: int | None
    stop: tuple[str, ...]
    prompt_tokens: int
    chinese: bool = False  # the last user message holds CJK: the answer is in Chinese


def _number(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(f"'{key}' must be a number, not {_show(value)}", param=key)
    lo, hi = _RANGES[key]
    if not lo <= value <= hi:
        raise ApiError(f"'{key}' must be between {lo:g} and {hi:g}, not {value!r}", param=key)
    return float(value)


def _positive_int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiError(f"'{key}' must be an integer of at least 1, not {_show(value)}", param=key)
    return value


def _option_flag(options: Mapping[str, Any], key: str) -> bool:
    """``stream_options[key]``: true or false, absent is false."""
    value = options.get(key, False)
    if not isinstance(value, bool):
        param = f"stream_options.{key}"
        raise ApiError(f"'{param}' must be true or false, not {_show(value)}", param=param)
    return value


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _messages(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise ApiError("'messages' must be a non-empty array of {role, content} objects", param="messages")
    for i, message in enumerate(raw):
        if type(message) is dict and message.get("role") in ROLES and type(message.get("content")) is str:
            continue  # the common case, checked in one line; the branches below say what is wrong
        if (
            type(message) is dict
            and message.get("role") == "assistant"
            and message.get("content") is None
            and isinstance(message.get("tool_calls"), list)
        ):
            continue  # an assistant turn that only called tools
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise ApiError(f"'{where}' must be an object with 'role' and 'content'", param=where)
        role = message.get("role")
        if role not in ROLES:
            raise ApiError(
                f"'{where}.role' must be one of {', '.join(ROLES)}, not {_show(role)}", param=f"{where}.role"
            )
        content = message.get("content")
        if isinstance(content, list):
            # OpenAI content parts: the text parts joined by newlines (as vLLM's chat templates get
            # them); the message is replaced by its plain-text form for everything downstream.
            raw[i] = {**message, "content": _text_parts(content, f"{where}.content")}
            continue
        if not isinstance(content, str):
            raise ApiError(
                f"'{where}.content' must be a string or an array of text parts, not {_show(content)}",
                param=f"{where}.content",
            )
    return raw


def _text_parts(parts: list[Any], where: str) -> str:
    """The text of an OpenAI content-part array; any part but ``{"type": "text", "text": str}`` is a 400."""
    if not parts:
        raise ApiError(f"'{where}' must not be an empty array", param=where)
    texts = []
    for j, part in enumerate(parts):
        key = f"{where}[{j}]"
        if not isinstance(part, dict):
            raise ApiError(f'\'{key}\' must be an object like {{"type": "text", "text": ...}}', param=key)
        kind = part.get("type")
        if kind != "text":
            raise ApiError(
                f"'{key}.type' {_show(kind)} is not supported by this server: only 'text' parts are",
                param=f"{key}.type",
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise ApiError(f"'{key}.text' must be a string, not {_show(text)}", param=f"{key}.text")
        texts.append(text)
    return "\n".join(texts)


# Per distinct message text: (its tokens by chatbench's rule, whether it holds CJK). A benchmark
# replays a bounded set of prompts, so after the first few requests counting is one dict lookup
# instead of a regex pass over the whole conversation. Bounded by the characters it holds (long
# unique prompts must not grow it without limit): past the bound it starts again empty.
_text_facts: dict[str, tuple[int, bool]] = {}
_TEXT_FACTS_MAX_CHARS = 16_000_000
_text_facts_chars = 0


def _facts(text: str) -> tuple[int, bool]:
    global _text_facts_chars
    facts = _text_facts.get(text)
    if facts is None:
        # len(split_tokens(...)) is count_tokens, about twice as fast.
        facts = (len(split_tokens(text)), is_chinese(text))
        if _text_facts_chars + len(text) > _TEXT_FACTS_MAX_CHARS:
            _text_facts.clear()
            _text_facts_chars = 0
        _text_facts[text] = facts
        _text_facts_chars += len(text)
    return facts


def parse_chat_request(raw: bytes, settings: MockSettings) -> ChatRequest:
    """Validate a request body for the configured profile; raise ``ApiError`` saying what is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError("the request body must be a JSON object")
    allowed = get_profile(settings.profile).body_keys
    openai = "max_tokens" in allowed  # the profile takes the OpenAI extensions checked below
    if settings.strict and not allowed.issuperset(body):
        for key in body:
            if key not in allowed:
                raise ApiError(
                    f"unknown parameter '{key}' (the {settings.profile} profile accepts: "
                    f"{', '.join(sorted(allowed))})",
                    param=key,
                    code="unknown_parameter",
                )
    model = body.get("model")
    if model is not None:
        if not isinstance(model, str):
            raise ApiError(f"'model' must be a string, not {_show(model)}", param="model")
        if model != settings.model:
            raise ApiError(
                f"The model '{model}' does not exist (this server serves '{settings.model}')",
                param="model",
                status=404,
                code="model_not_found",
            )
    messages = _messages(body.get("messages"))
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise ApiError(f"'stream' must be true or false, not {_show(stream)}", param="stream")
    # Absent, or a float in range, is checked inline (the common case); _number says what is wrong.
    temperature = body.get("temperature")
    if temperature is not None and not (type(temperature) is float and 0.0 <= temperature <= 2.0):
        temperature = _number(body, "temperature")
    top_p = body.get("top_p")
    if top_p is not None and not (type(top_p) is float and 0.0 <= top_p <= 1.0):
        top_p = _number(body, "top_p")
    presence = body.get("presence_penalty")
    if presence is not None and not (type(presence) is float and -2.0 <= presence <= 2.0):
        presence = _number(body, "presence_penalty")
    frequency = body.get("frequency_penalty")
    if frequency is not None and not (type(frequency) is float and -2.0 <= frequency <= 2.0):
        frequency = _number(body, "frequency_penalty")
    max_tokens = None
    include_usage = False
    continuous_usage = False
    seed = None
    stop: tuple[str, ...] = ()
    if openai and not SEED_KEYS.issuperset(body):  # only then can an OpenAI-only key be present
        max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
        options = body.get("stream_options")
        if options is not None:
            if not isinstance(options, dict):
                raise ApiError("'stream_options' must be an object", param="stream_options")
            if not stream:
                raise ApiError(
                    "'stream_options' is only allowed when 'stream' is true", param="stream_options"
                )
            include_usage = _option_flag(options, "include_usage")
            continuous_usage = _option_flag(options, "continuous_usage_stats")
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ApiError(f"'seed' must be an integer, not {_show(seed)}", param="seed")
        raw_stop = body.get("stop")
        if isinstance(raw_stop, str):
            stop = (raw_stop,)
        elif isinstance(raw_stop, list) and len(raw_stop) <= 4 and all(isinstance(s, str) for s in raw_stop):
            stop = tuple(s for s in raw_stop if s)
        elif raw_stop is not None:
            raise ApiError("'stop' must be a string or an array of at most 4 strings", param="stop")
    prompt_tokens = 0
    chinese = False
    for message in messages:
        tokens, cjk = _facts(message["content"] or "")
        prompt_tokens += tokens
        if message["role"] == "user":
            chinese = cjk
    return ChatRequest(
        messages=messages,
        stream=stream,
        temperature=temperature,
        top_p=top_p,
        presence_penalty=presence,
        frequency_penalty=frequency,
        max_tokens=max_tokens,
        include_usage=include_usage,
        continuous_usage=continuous_usage,
        seed=seed,
        stop=stop,
        prompt_tokens=prompt_tokens,
        chinese=chinese,
    )


def usage_data(
    prompt_tokens: int, completion_tokens: int, cached_tokens: int | None, reasoning_tokens: int | None
) -> dict[str, Any]:
    """An OpenAI ``usage`` object; the details only when the mock has them (a prefix cache, reasoning)."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return usage


def usage_json(prompt_tokens: int, completion_tokens: int) -> bytes:
    return orjson.dumps(usage_data(prompt_tokens, completion_tokens, None, None))


def completion_body(
    completion_id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    reasoning: str = "",
    cached_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> bytes:
    """A non-streaming ``chat.completion`` answer (the bytes ``orjson.dumps`` gives for it).

    One ``%`` format over constant fragments: the plain answer is the mock's hottest path, and this
    costs about half of building and dumping the nested dicts. An answer with reasoning or usage
    details (a prefix cache) is dumped whole.
    """
    if reasoning or cached_tokens is not None or reasoning_tokens is not None:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reasoning:
            message["reasoning_content"] = reasoning
        return orjson.dumps(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
                ],
                "usage": usage_data(prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens),
            }
        )
    return _COMPLETION % (
        orjson.dumps(completion_id),
        created,
        orjson.dumps(model),
        orjson.dumps(text),
        orjson.dumps(finish_reason),
        prompt_tokens,
        completion_tokens,
        prompt_tokens + completion_tokens,
    )


_COMPLETION = (
    b'{"id":%b,"object":"chat.completion","created":%d,"model":%b,"choices":[{"index":0,'
    b'"message":{"role":"assistant","content":%b},"logprobs":null,"finish_reason":%b}],'
    b'"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}'
)


class ChunkWriter:
    """Builds the SSE events of one stream, each already framed as an HTTP/1.1 chunk.

    The constant part of a chunk event is encoded once per stream; a content chunk then costs one
    ``orjson.dumps`` of its text and a few byte concatenations (this is the mock's hot path).
    """

    __slots__ = ("_head", "_tail")

    def __init__(self, completion_id: str, created: int, model: str, *, include_usage: bool) -> None:
        self._head = (
            b'data: {"id":'
            + orjson.dumps(completion_id)
            + b',"object":"chat.completion.chunk","created":'
            + str(created).encode()
            + b',"model":'
            + orjson.dumps(model)
            + b',"choices":[{"index":0,"delta":'
        )
        # OpenAI sends "usage": null on every chunk when the client asked for the usage chunk.
        self._tail = b',"logprobs":null,"finish_reason":null}]' + (b',"usage":null' if include_usage else b"")

    def role(self) -> bytes:
        return frame(self._head + b'{"role":"assistant","content":""}' + self._tail + b"}\n\n")

    def content(self, text: str, usage: bytes | None = None) -> bytes:
        """A content chunk; ``usage`` (``usage_json``) carries the running counts (vLLM's
        ``continuous_usage_stats``)."""
        return self._delta(b'{"content":' + orjson.dumps(text) + b"}", usage)

    def reasoning(self, text: str, usage: bytes | None = None) -> bytes:
        """A chunk of the reasoning channel (``delta.reasoning_content``, as vLLM and DeepSeek send)."""
        return self._delta(b'{"reasoning_content":' + orjson.dumps(text) + b"}", usage)

    def _delta(self, delta: bytes, usage: bytes | None) -> bytes:
        tail = (
            self._tail if usage is None else self._tail.replace(b',"usage":null', b"") + b',"usage":' + usage
        )
        return frame(self._head + delta + tail + b"}\n\n")

    def finish(self, finish_reason: str) -> bytes:
        tail = self._tail.replace(b'"finish_reason":null', b'"finish_reason":' + orjson.dumps(finish_reason))
        return frame(self._head + b"{}" + tail + b"}\n\n")

    def usage(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> bytes:
        head = self._head[: self._head.index(b'"choices":')]
        usage = orjson.dumps(usage_data(prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens))
        return frame(head + b'"choices":[],"usage":' + usage + b"}\n\n")

    def malformed(self) -> bytes:
        """An event whose JSON is cut short (the ``bad_json_chunk`` fault)."""
        return frame(self._head + b'{"content":"brok\n\n')


DONE = b"data: [DONE]\n\n"


def frame(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of chunked transfer encoding."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
