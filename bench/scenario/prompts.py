"""Message lists as ``Conversation``s, and the readers of the inline, JSONL and ShareGPT sources.

A message list becomes one conversation. Played as a single request (``multi_turn: false``) it is
sent whole and must end with a user message. Replayed (``multi_turn: true``) each user message is
one turn: the messages before it (system, context) go with it, and the list's own assistant
messages are dropped because the load side appends the server's actual answer instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.profiles import ApiProfile
from bench.scenario.checks import Where, join, json_lines
from bench.scenario.plan import Conversation, Message
from bench.scenario.sampling import PARAM_RANGES, check_param_value

__all__ = [
    "conversation_from_messages",
    "load_inline",
    "load_jsonl",
    "load_sharegpt",
    "parse_messages",
]

ROLES = ("system", "user", "assistant", "tool")
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "assistant": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
}


def parse_messages(where: Where, value: Any, key: str) -> tuple[Message, ...]:
    """A list of ``{role, content}`` messages, checked.

    Tool turns: a ``tool`` message's content is a JSON string (the tool's result), optionally with
    the ``tool_call_id`` it answers; an ``assistant`` message may carry ``tool_calls`` (then its
    content may be null), each ``{id, type: function, function: {name, arguments}}`` with
    ``arguments`` a JSON string.
    """
    messages = []
    for i, raw in enumerate(where.list(value, key)):
        mkey = join(key, i)
        message = where.mapping(raw, mkey)
        where.known_keys(message, mkey, ("role", "content", "tool_calls", "tool_call_id"))
        role = where.choice(where.required(message, mkey, "role"), join(mkey, "role"), ROLES)
        ckey = join(mkey, "content")
        if role == "assistant" and message.get("tool_calls") is not None:
            out: dict[str, Any] = {"role": role, "content": message.get("content")}
            if out["content"] is not None:
                where.string(out["content"], ckey, non_empty=False)
            out["tool_calls"] = _tool_calls(where, message["tool_calls"], join(mkey, "tool_calls"))
            messages.append(out)
            continue
        for extra in ("tool_calls", "tool_call_id"):
            if message.get(extra) is not None and not (extra == "tool_call_id" and role == "tool"):
                raise where.error(
                    join(mkey, extra),
                    "only an assistant message has tool_calls"
                    if extra == "tool_calls"
                    else "only a tool message has tool_call_id",
                )
        content = where.string(where.required(message, mkey, "content"), ckey)
        out = {"role": role, "content": content}
        if role == "tool":
            _json_text(where, content, ckey, "a tool message's content is the tool's result as a JSON string")
            if message.get("tool_call_id") is not None:
                out["tool_call_id"] = where.string(message["tool_call_id"], join(mkey, "tool_call_id"))
        messages.append(out)
    return tuple(messages)


def _json_text(where: Where, text: str, key: str, what: str) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise where.error(key, f"{what}; it is not valid JSON: {exc.msg} at column {exc.colno}") from None


def _tool_calls(where: Where, value: Any, key: str) -> list[dict[str, Any]]:
    calls = []
    for j, raw in enumerate(where.list(value, key)):
        ckey = join(key, j)
        call = where.mapping(raw, ckey)
        where.known_keys(call, ckey, ("id", "type", "function"))
        fkey = join(ckey, "function")
        function = where.mapping(where.required(call, ckey, "function"), fkey)
        where.known_keys(function, fkey, ("name", "arguments"))
        arguments = where.string(function.get("arguments", "{}"), join(fkey, "arguments"), non_empty=False)
        _json_text(where, arguments, join(fkey, "arguments"), "a tool call's arguments are a JSON string")
        calls.append(
            {
                "id": where.string(call.get("id", f"call_{j}"), join(ckey, "id")),
                "type": where.choice(call.get("type", "function"), join(ckey, "type"), ("function",)),
                "function": {
                    "name": where.string(where.required(function, fkey, "name"), join(fkey, "name")),
                    "arguments": arguments,
                },
            }
        )
    return calls


def conversation_from_messages(
    where: Where,
    key: str,
    messages: Sequence[Message],
    *,
    prompt_set: str,
    prompt_id: str,
    multi_turn: bool,
    max_turns: int | None = None,
    expected_output_tokens: int | None = None,
    sampling_overrides: Mapping[str, float | int] | None = None,
    extra: Mapping[str, Any] | None = None,
    at_s: float | None = None,
) -> Conversation:
    """A conversation from a message list (see the module docstring for the two ways to play it)."""
    if not any(m["role"] == "user" for m in messages):
        raise where.error(key, "has no user message; a conversation needs at least one")
    if not multi_turn:
        if messages[-1]["role"] not in ("user", "tool"):
            article = "an" if messages[-1]["role"] == "assistant" else "a"
            raise where.error(
                key,
                f"ends with {article} {messages[-1]['role']} message; a single request must end with a user "
                "message (or a tool result; or set multi_turn: true to replay it turn by turn)",
            )
        turns: tuple[tuple[Message, ...], ...] = (tuple(messages),)
    else:
        collected: list[tuple[Message, ...]] = []
        pending: list[Message] = []
        for message in messages:
            if message["role"] == "user":
                collected.append((*pending, message))
                pending = []
            elif message["role"] == "system" or not collected:
                # Context before the first question stays; later assistant turns are replaced by
                # the server's real answers.
                pending.append(message)
        if max_turns is not None:
            collected = collected[:max_turns]
        turns = tuple(collected)
    return Conversation(
        prompt_set=prompt_set,
        prompt_id=prompt_id,
        turns=turns,
        expected_output_tokens=expected_output_tokens,
        sampling_overrides=dict(sampling_overrides or {}),
        extra=dict(extra or {}),
        at_s=at_s,
    )


def load_inline(
    where: Where,
    items: Any,
    key: str,
    *,
    prompt_set: str,
    multi_turn: bool,
    max_turns: int | None,
    profile: ApiProfile,
) -> tuple[Conversation, ...]:
    """Inline items: a string (one user prompt), a message list, or ``{messages: [...]}``."""
    conversations = []
    for i, item in enumerate(where.list(items, key)):
        ikey = join(key, i)
        if isinstance(item, str):
            messages: tuple[Message, ...] = ({"role": "user", "content": where.string(item, ikey)},)
        elif isinstance(item, list):
            messages = parse_messages(where, item, ikey)
        elif isinstance(item, Mapping):
            block = where.mapping(item, ikey)
            where.known_keys(block, ikey, ("messages", "id"))
            messages = parse_messages(where, where.required(block, ikey, "messages"), join(ikey, "messages"))
            ikey = join(ikey, "messages")
        else:
            raise where.error(
                ikey, "expected a prompt string, a list of {role, content} messages, or {messages: [...]}"
            )
        conversations.append(
            conversation_from_messages(
                where,
                ikey,
                messages,
                prompt_set=prompt_set,
                prompt_id=str(item.get("id", i)) if isinstance(item, Mapping) else str(i),
                multi_turn=multi_turn,
                max_turns=max_turns,
            )
        )
    return tuple(conversations)


TOOL_KEYS = ("tools", "tool_choice")


def tool_keys(where: Where, item: Mapping[str, Any], profile: ApiProfile) -> dict[str, Any]:
    """A line's ``tools`` (a list of tool definitions) and ``tool_choice``, if the profile sends them."""
    extra: dict[str, Any] = {}
    for name in TOOL_KEYS:
        if item.get(name) is None:
            continue
        if name not in profile.body_keys:
            raise where.error(name, profile.refusal(name))
        value = item[name]
        if name == "tools":
            for i, tool in enumerate(where.list(value, name)):
                where.mapping(tool, join(name, i))
        elif not isinstance(value, (str, Mapping)):
            raise where.error(name, "expected none, auto, required, or {type: function, function: {name}}")
        extra[name] = value
    return extra


def _read_text(where: Where, path: Path, key: str) -> str:
    if not path.is_file():
        raise where.error(key, f"file not found: {path} (relative paths are from the scenario file's folder)")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(key, f"cannot read {path} as UTF-8 text: {exc}") from None


def load_jsonl(
    where: Where,
    path: Path,
    key: str,
    *,
    prompt_set: str,
    multi_turn: bool,
    max_turns: int | None,
    profile: ApiProfile,
) -> tuple[Conversation, ...]:
    """One conversation per line: a string, a message list, or an object with ``prompt`` or ``messages``
    and optionally ``id``, ``sampling`` (fixed values that win over the scenario's) and
    ``expected_output_tokens``. Blank lines are skipped."""
    text = _read_text(where, path, key)
    conversations = []
    for at, lineno, item in json_lines(path, text):
        prompt_id = str(lineno)
        expected = None
        overrides: dict[str, float | int] = {}
        extra: dict[str, Any] = {}
        if isinstance(item, str):
            messages: tuple[Message, ...] = ({"role": "user", "content": at.string(item, "prompt")},)
        elif isinstance(item, list):
            messages = parse_messages(at, item, "messages")
        elif isinstance(item, Mapping):
            at.known_keys(
                item, "", ("prompt", "messages", "id", "sampling", "expected_output_tokens", *TOOL_KEYS)
            )
            if ("prompt" in item) == ("messages" in item):
                raise at.error("", "give exactly one of 'prompt' (a string) or 'messages' (a list)")
            if "prompt" in item:
                messages = ({"role": "user", "content": at.string(item["prompt"], "prompt")},)
            else:
                messages = parse_messages(at, item["messages"], "messages")
            if "id" in item:
                prompt_id = str(item["id"])
            if item.get("expected_output_tokens") is not None:
                expected = at.integer(item["expected_output_tokens"], "expected_output_tokens", lo=1)
            if item.get("sampling") is not None:
                block = at.mapping(item["sampling"], "sampling")
                at.known_keys(block, "sampling", PARAM_RANGES)
                for name, value in block.items():
                    if name not in profile.sampling_keys:
                        raise at.error(join("sampling", name), profile.refusal(name))
                    overrides[name] = check_param_value(at, value, join("sampling", name), name)
            extra = tool_keys(at, item, profile)
        else:
            raise at.error("", "expected a prompt string, a message list, or an object with prompt/messages")
        conversations.append(
            conversation_from_messages(
                at,
                "messages",
                messages,
                prompt_set=prompt_set,
                prompt_id=prompt_id,
                multi_turn=multi_turn,
                max_turns=max_turns,
                expected_output_tokens=expected,
                sampling_overrides=overrides,
                extra=extra,
            )
        )
    if not conversations:
        raise where.error(key, f"{path} holds no prompts (one JSON value per line expected)")
    return tuple(conversations)


def load_sharegpt(
    where: Where,
    path: Path,
    key: str,
    *,
    prompt_set: str,
    multi_turn: bool,
    max_turns: int | None,
    counter: Callable[[str], int],
) -> tuple[Conversation, ...]:
    """ShareGPT JSON (``[{id?, conversations: [{from: human|gpt|system, value}]}]``).

    ``multi_turn: false`` plays the first human turn alone (its expected output length is the
    length of the gpt answer that follows, when there is one); ``multi_turn: true`` replays every
    human turn in order. Entries without a human turn are skipped (real ShareGPT dumps have some).
    """
    text = _read_text(where, path, key)
    at = Where(str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise at.error("", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    entries = at.list(data, "", non_empty=False)
    conversations = []
    for i, entry in enumerate(entries):
        ekey = f"[{i}]"
        block = at.mapping(entry, ekey)
        turns_key = join(ekey, "conversations")
        raw_turns = at.list(at.required(block, ekey, "conversations"), turns_key, non_empty=False)
        messages: list[Message] = []
        for j, turn in enumerate(raw_turns):
            tkey = join(turns_key, j)
            t = at.mapping(turn, tkey)
            speaker = at.choice(at.required(t, tkey, "from"), join(tkey, "from"), _SHAREGPT_ROLES)
            value = t.get("value")
            if not isinstance(value, str):
                raise at.error(join(tkey, "value"), "expected the turn's text as a string")
            if value.strip():
                messages.append({"role": _SHAREGPT_ROLES[speaker], "content": value})
        first_user = next((k for k, m in enumerate(messages) if m["role"] == "user"), None)
        if first_user is None:
            continue
        expected = None
        if not multi_turn:
            prefix = [m for m in messages[:first_user] if m["role"] == "system"]
            answer = messages[first_user + 1] if first_user + 1 < len(messages) else None
            if answer is not None and answer["role"] == "assistant":
                expected = max(1, counter(answer["content"]))
            messages = [*prefix, messages[first_user]]
        conversations.append(
            conversation_from_messages(
                at,
                turns_key,
                messages,
                prompt_set=prompt_set,
                prompt_id=str(block.get("id", i)),
                multi_turn=multi_turn,
                max_turns=max_turns,
                expected_output_tokens=expected,
            )
        )
    if not conversations:
        raise where.error(key, f"{path} holds no conversation with a human turn")
    return tuple(conversations)
