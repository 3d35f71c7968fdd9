"""The ``target`` block: the server under test, how to reach it, its API profile and time limits."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.errors import ScenarioError
from bench.profiles import ApiProfile, get_profile, profile_names
from bench.scenario.checks import Where, join
from bench.tokens import count_tokens, load_tokenizer

__all__ = ["Target", "Timeouts", "check_options", "parse_base_url", "parse_target", "target_counter"]

# Header names whose values are credentials: shown as "***" in to_dict() and repr.
_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "cookie", "proxy-authorization")


def _redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: ("***" if name.lower() in _SECRET_HEADERS else value) for name, value in headers.items()}


@dataclass(frozen=True)
class Timeouts:
    """Per-request time limits, in seconds."""

    connect_s: float = 5.0
    first_byte_s: float = 60.0
    total_s: float = 300.0


@dataclass(frozen=True)
class Target:
    """The server under test (``base_url`` None: start the embedded mock for the run)."""

    base_url: str | None = None
    path: str = "/v1/chat/completions"
    model: str = "o"
    profile: str = "seed"  # a registered API profile (bench.profiles)
    headers: Mapping[str, str] = field(default_factory=dict)
    api_key_env: str | None = None
    # Resolved from the environment at load time; never written anywhere (see __repr__, to_dict).
    api_key: str | None = field(default=None, repr=False)
    timeouts: Timeouts = Timeouts()
    tokenizer: Path | None = None
    options: Mapping[str, bool] = field(default_factory=dict)  # the profile's own switches
    # Send a request again when a kept-alive connection was closed before any answer byte (the record
    # says so); false for strict measurement: such a request is then a failed record.
    resend: bool = True
    # The circuit breaker: stop the run once the target has been unreachable this long (s); None: never.
    stop_when_unreachable_s: float | None = 30.0

    def __repr__(self) -> str:
        return (
            f"Target(base_url={self.base_url!r}, path={self.path!r}, model={self.model!r}, "
            f"profile={self.profile!r}, headers={_redact_headers(self.headers)!r}, "
            f"api_key_env={self.api_key_env!r}, api_key={'***' if self.api_key else None}, "
            f"timeouts={self.timeouts!r}, tokenizer={self.tokenizer!r}, options={dict(self.options)!r}, "
            f"resend={self.resend!r}, stop_when_unreachable_s={self.stop_when_unreachable_s!r})"
        )

    @property
    def api(self) -> ApiProfile:
        """The registered profile this target speaks."""
        return get_profile(self.profile)

    @property
    def url(self) -> str | None:
        """The full request URL, or None when the embedded mock will be started."""
        return None if self.base_url is None else self.base_url.rstrip("/") + self.path

    def request_headers(self) -> dict[str, str]:
        """The headers to send: the scenario's own plus ``Authorization: Bearer`` when a key is set."""
        headers = {"Content-Type": "application/json", **self.headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "path": self.path,
            "model": self.model,
            "profile": self.profile,
            "headers": _redact_headers(self.headers),
            "api_key_env": self.api_key_env,
            "timeouts": {
                "connect_s": self.timeouts.connect_s,
                "first_byte_s": self.timeouts.first_byte_s,
                "total_s": self.timeouts.total_s,
            },
            "tokenizer": None if self.tokenizer is None else str(self.tokenizer),
            "options": dict(self.options),
            "resend": self.resend,
            "stop_when_unreachable_s": self.stop_when_unreachable_s,
        }


def parse_base_url(where: Where, value: Any, key: str) -> str:
    url = where.string(value, key).strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise where.error(key, f"expected a URL like http://127.0.0.1:8000, got {url!r}")
    return url


def check_options(where: Where, target: Target) -> None:
    """Every ``target.options`` key must be one the (effective) profile understands."""
    key = join("target", "options")
    known = [o.name for o in target.api.options]
    for name in target.options:
        if name in known:
            continue
        others = [p for p in profile_names() if any(o.name == name for o in get_profile(p).options)]
        if others:
            raise where.error(join(key, name), f"needs target.profile: {others[0]}")
        where.known_keys({name: None}, key, known)


@functools.lru_cache(maxsize=8)
def _cached_tokenizer(path: str) -> Callable[[str], int]:
    return load_tokenizer(path)


def target_counter(target: Target) -> Callable[[str], int]:
    """How this target's tokens are counted: its tokenizer file, else chatbench's rule (``count_tokens``)."""
    return count_tokens if target.tokenizer is None else _cached_tokenizer(str(target.tokenizer))


def parse_target(where: Where, raw: Any, base_dir: Path, environ: Mapping[str, str]) -> Target:
    """The ``target`` block (its defaults are ``Target``'s field defaults)."""
    key = "target"
    block = where.mapping(raw, key) if raw is not None else {}
    where.known_keys(block, key, [f.name for f in fields(Target) if f.name != "api_key"])
    base_url = block.get("base_url")
    if base_url is not None:
        base_url = parse_base_url(where, base_url, join(key, "base_url"))
    url_path = block.get("path", Target.path)
    url_path = where.string(url_path, join(key, "path"))
    if not url_path.startswith("/"):
        raise where.error(
            join(key, "path"), f"must start with '/', like /v1/chat/completions; got {url_path!r}"
        )
    model = (
        where.string(block["model"], join(key, "model")) if block.get("model") is not None else Target.model
    )
    profile = where.choice(block.get("profile", Target.profile), join(key, "profile"), profile_names())
    headers: dict[str, str] = {}
    if block.get("headers") is not None:
        hkey = join(key, "headers")
        for name, value in where.mapping(block["headers"], hkey).items():
            headers[name] = where.string(value, join(hkey, name), non_empty=False)
    api_key_env = block.get("api_key_env")
    api_key = None
    if api_key_env is not None:
        akey = join(key, "api_key_env")
        api_key_env = where.string(api_key_env, akey)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", api_key_env):
            raise where.error(
                akey,
                f"expected the NAME of an environment variable (like OPENAI_API_KEY), not {api_key_env!r}",
            )
        api_key = environ.get(api_key_env)
        if not api_key:
            raise where.error(
                akey, f"environment variable {api_key_env} is not set; export it with the API key"
            )
    timeouts = Timeouts()
    if block.get("timeouts") is not None:
        tkey = join(key, "timeouts")
        tblock = where.mapping(block["timeouts"], tkey)
        where.known_keys(tblock, tkey, [f.name for f in fields(Timeouts)])
        timeouts = Timeouts(
            **{
                name: where.duration(value, join(tkey, name))
                for name, value in tblock.items()
                if value is not None
            }
        )
    tokenizer = None
    if block.get("tokenizer") is not None:
        tok_key = join(key, "tokenizer")
        tokenizer = (base_dir / where.string(block["tokenizer"], tok_key)).resolve()
        try:
            _cached_tokenizer(str(tokenizer))
        except ScenarioError as exc:
            raise where.error(tok_key, str(exc)) from None
    options: dict[str, bool] = {}
    if block.get("options") is not None:
        okey = join(key, "options")
        for name, value in where.mapping(block["options"], okey).items():
            options[name] = where.boolean(value, join(okey, name))
    resend = where.boolean(block["resend"], join(key, "resend")) if "resend" in block else Target.resend
    stop_s = Target.stop_when_unreachable_s
    if "stop_when_unreachable_s" in block:
        raw_stop = block["stop_when_unreachable_s"]
        stop_key = join(key, "stop_when_unreachable_s")
        stop_s = None if raw_stop is None else where.duration(raw_stop, stop_key)
    return Target(
        base_url=base_url,
        path=url_path,
        model=model,
        profile=profile,
        headers=headers,
        api_key_env=api_key_env,
        api_key=api_key,
        timeouts=timeouts,
        tokenizer=tokenizer,
        options=options,
        resend=resend,
        stop_when_unreachable_s=stop_s,
    )
