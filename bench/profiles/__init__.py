"""API profiles: which keys a request body may hold, their ranges and defaults, and how a body is shaped.

A profile is one registered module in this package (``seed.py``, ``openai.py``); adding a profile is
adding a file that calls ``register(ApiProfile(...))`` (or a subclass of it). Everything that depends
on the profile asks the registry instead of comparing the profile's name:

- the scenario loader (which sampling keys a file may set, their ranges, the defaults, the stream
  default, the profile's own ``target.options``),
- ``RequestBuilder`` (``profile.body(...)`` builds the exact JSON body),
- the command line (``--profile`` choices and help),
- the mock (``body_keys``: what a strict mock accepts; ``sampling_ranges``: what it checks).

This package imports only the standard library (``chatbench --help`` and the mock import it).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SAMPLING_RANGES",
    "ApiProfile",
    "OptionSpec",
    "RangeSpec",
    "get_profile",
    "profile_names",
    "register",
]


@dataclass(frozen=True)
class RangeSpec:
    """The allowed values of one sampling key: ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""

    lo: float
    hi: float
    lo_open: bool = False
    integer: bool = False

    def contains(self, value: float) -> bool:
        return (value > self.lo if self.lo_open else value >= self.lo) and value <= self.hi


SAMPLING_RANGES: Mapping[str, RangeSpec] = {
    "temperature": RangeSpec(0.0, 2.0),
    "top_p": RangeSpec(0.0, 1.0, lo_open=True),
    "presence_penalty": RangeSpec(-2.0, 2.0),
    "frequency_penalty": RangeSpec(-2.0, 2.0),
    "max_tokens": RangeSpec(1, 1_000_000, integer=True),
}
"""Every sampling key chatbench can vary, with the range the OpenAI API documents for it."""


@dataclass(frozen=True)
class OptionSpec:
    """One ``target.options`` key a profile understands (a boolean switch with a default)."""

    name: str
    help: str
    default: bool = False


@dataclass(frozen=True)
class ApiProfile:
    """What one API accepts and how chatbench talks to it.

    ``body_keys``: every top-level key a request body may hold under this profile (a strict server
    refuses others). ``sampling_keys``: the sampling keys a scenario may set (a subset of
    ``SAMPLING_RANGES``). ``defaults``: values sent when the scenario sets nothing (a key without a
    default is not sent). ``required``: the sampling keys always sent (they cannot be null).
    """

    name: str
    help: str
    body_keys: frozenset[str]
    sampling_keys: tuple[str, ...]
    defaults: Mapping[str, float] = field(default_factory=dict)
    required: bool = False
    stream_default: bool = True
    stream_with_tools: bool = True  # False: a request that carries tool turns is sent without streaming
    options: tuple[OptionSpec, ...] = ()

    @property
    def sampling_ranges(self) -> dict[str, RangeSpec]:
        return {key: SAMPLING_RANGES[key] for key in self.sampling_keys}

    def refusal(self, key: str) -> str:
        """Why ``key`` cannot be used under this profile, naming a profile that takes it."""
        others = [
            p.name for p in _REGISTRY.values() if p is not self and key in p.body_keys | set(p.sampling_keys)
        ]
        fix = f"; '{key}' needs target.profile: {others[0]}" if others else ""
        return f"the {self.name} profile sends only {_and(sorted(self.body_keys, key=_KEY_ORDER))}{fix}"

    def body(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        stream: bool,
        sampling: Mapping[str, float | int | None],
        options: Mapping[str, bool],
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The exact JSON body: ``model``, ``messages``, ``stream``, then each sampling value set.

        ``extra`` holds per-conversation keys (``tools``, ``tool_choice``) the profile has checked at
        load time. Subclasses add what their API needs (``stream_options`` for ``openai``).
        """
        body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": stream}
        for key in self.sampling_keys:
            value = sampling.get(key)
            if value is not None:
                body[key] = value
        for key, value in extra.items():
            if key in self.body_keys:
                body[key] = value
        self.extend(body, stream=stream, options=options)
        return body

    def extend(self, body: dict[str, Any], *, stream: bool, options: Mapping[str, bool]) -> None:
        """Add what this API needs beyond the common keys (a profile subclass overrides this)."""


_KEY_ORDER_LIST = ("model", "messages", "stream", *SAMPLING_RANGES)


def _KEY_ORDER(key: str) -> tuple[int, str]:
    return (_KEY_ORDER_LIST.index(key) if key in _KEY_ORDER_LIST else len(_KEY_ORDER_LIST), key)


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_REGISTRY: dict[str, ApiProfile] = {}


def register(profile: ApiProfile) -> ApiProfile:
    """Add ``profile`` to the registry (a profile module calls this at import)."""
    if profile.name in _REGISTRY:
        raise ValueError(f"API profile {profile.name!r} is registered twice")
    _REGISTRY[profile.name] = profile
    return profile


def _discover() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: (m.name != "seed", m.name)):
        importlib.import_module(f"{__name__}.{module.name}")


def profile_names() -> tuple[str, ...]:
    """The registered profile names (``seed`` first: it is the default)."""
    return tuple(_REGISTRY)


def get_profile(name: str) -> ApiProfile:
    """The profile called ``name``; an unknown name raises ``KeyError`` listing the registered ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"API profile {name!r} is not registered; available: {', '.join(_REGISTRY)}") from None


_discover()
