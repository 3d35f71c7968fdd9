"""Load a scenario file (YAML) into a validated, frozen ``Scenario``.

``load_scenario(path, overrides)`` is the one entry point. Values come from, highest first:

    1. ``overrides`` (the command line: host, model, profile, users, spawn_rate, duration_s, rate_rps)
    2. environment variables: CHATBENCH_HOST, CHATBENCH_MODEL, CHATBENCH_PROFILE
    3. the scenario file
    4. built-in defaults

Anything wrong in the file (or in a prompt file it names) raises one ``ScenarioError`` naming the
file, the key path (``prompt_sets[1].sampling.top_p``), the line when known and what is allowed.
The schema is documented in ``docs/scenarios.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from bench.errors import ChatbenchError, ScenarioError
from bench.scenario.checks import Where, join
from bench.scenario.distributions import Distribution, Empirical, Exponential, Fixed, Normal, Uniform
from bench.scenario.model import (
    METRICS,
    STATS,
    Arrival,
    Load,
    Planning,
    PromptSet,
    Scenario,
    Slo,
    SloThreshold,
    Stage,
    Sweep,
    SyntheticSpec,
    Target,
    Timeouts,
)
from bench.scenario.plan import Conversation
from bench.scenario.prompts import load_inline, load_jsonl, load_sharegpt, synthetic_conversation
from bench.scenario.sampling import SamplingSpec, parse_sampling
from bench.scenario.words import generate_text
from bench.tokens import count_tokens, load_tokenizer

__all__ = ["ENV_VARS", "OVERRIDE_KEYS", "load_scenario", "scenario_from_data", "token_counter"]

TOP_KEYS = (
    "name",
    "description",
    "seed",
    "target",
    "mock",
    "prompt_sets",
    "sampling",
    "load",
    "slo",
    "sweep",
    "planning",
)
OVERRIDE_KEYS = ("host", "model", "profile", "users", "spawn_rate", "duration_s", "rate_rps")
ENV_VARS = {"host": "CHATBENCH_HOST", "model": "CHATBENCH_MODEL", "profile": "CHATBENCH_PROFILE"}
_FLAGS = {
    "host": "--host",
    "model": "--model",
    "profile": "--profile",
    "users": "--users",
    "spawn_rate": "--spawn-rate",
    "duration_s": "--duration",
    "rate_rps": "--rate",
}
PROFILES = ("seed", "openai")
MAX_USERS = 1_000_000
MAX_PROMPT_TOKENS = 2_000_000

# The prompts a scenario without prompt_sets sends (one Chinese, one English, as the seed examples).
DEFAULT_PROMPTS = ("请介绍一下你自己", "Explain in two sentences what a load test measures.")


def load_scenario(
    path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Scenario:
    """Read, validate and resolve the scenario file at ``path`` (see the module docstring)."""
    p = Path(path)
    file = str(p)
    if not p.is_file():
        raise ScenarioError("scenario file not found (give the path to a .yaml file)", file=file)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file as UTF-8 text: {exc}", file=file) from None
    data, lines = parse_yaml(text, file)
    return scenario_from_data(data, path=p, lines=lines, overrides=overrides, environ=environ)


def parse_yaml(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """The YAML document and the line of every key path in it; bad YAML gives its line and column."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "cannot parse"
        raise ScenarioError(f"invalid YAML{where}: {problem}", file=file) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise ScenarioError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _map_lines(node, "", lines, file, set())
    return data, lines


def _map_lines(node: yaml.Node, path: str, lines: dict[str, int], file: str, seen: set[int]) -> None:
    if id(node) in seen:  # an alias pointing back up: nothing new below it
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys_here: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = join(path, key_node.value)
            if key_node.value in keys_here and key_node.value != "<<":
                raise ScenarioError(
                    f"duplicate key '{key_node.value}' (line {key_node.start_mark.line + 1}); "
                    "each key may appear once",
                    file=file,
                    key=key,
                )
            keys_here.add(key_node.value)
            lines.setdefault(key, key_node.start_mark.line + 1)
            _map_lines(value_node, key, lines, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = join(path, i)
            lines.setdefault(key, item.start_mark.line + 1)
            _map_lines(item, key, lines, file, seen)


@functools.lru_cache(maxsize=8)
def _cached_tokenizer(path: str) -> Callable[[str], int]:
    return load_tokenizer(path)


def token_counter(scenario: Scenario) -> Callable[[str], int]:
    """How this scenario counts tokens: its tokenizer file, else chatbench's rule (``count_tokens``)."""
    return _counter_for(scenario.target)


def _counter_for(target: Target) -> Callable[[str], int]:
    return count_tokens if target.tokenizer is None else _cached_tokenizer(str(target.tokenizer))


def scenario_from_data(
    data: Any,
    *,
    path: Path | None = None,
    lines: Mapping[str, int] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Scenario:
    """A ``Scenario`` from already-parsed YAML data (``path`` anchors relative file paths)."""
    where = Where(str(path) if path is not None else "<scenario>", lines)
    base_dir = path.parent if path is not None else Path.cwd()
    if data is None:
        data = {}
    raw = where.mapping(data, "")
    where.known_keys(raw, "", TOP_KEYS)
    env = environ if environ is not None else os.environ
    given = _overrides(overrides, env)

    name = raw.get("name")
    name = where.string(name, "name") if name is not None else (path.stem if path is not None else "scenario")
    description = raw.get("description")
    description = where.string(description, "description", non_empty=False) if description is not None else ""
    seed = where.integer(raw["seed"], "seed", lo=0) if raw.get("seed") is not None else 0

    target = _target(where, raw.get("target"), base_dir, given, env)
    counter = _counter_for(target)
    mock = _mock(where, raw.get("mock"))
    strict_seed_mock = mock.get("strict") is True and mock.get("profile", "seed") == "seed"
    if target.base_url is None and target.profile == "openai" and strict_seed_mock:
        raise where.error(
            "mock.strict",
            "a strict seed-profile mock rejects the keys the openai profile adds (max_tokens, "
            "stream_options); set mock.profile: openai, or target.profile: seed",
        )
    sampling = parse_sampling(where, raw.get("sampling"), "sampling", target.profile)
    prompt_sets = _prompt_sets(where, raw, base_dir, target.profile, sampling, seed, counter)
    load = _load(where, raw.get("load"), given)
    slo = _slo(where, raw.get("slo"))
    sweep = _sweep(where, raw.get("sweep")) if raw.get("sweep") is not None else None
    planning = _planning(where, raw.get("planning")) if raw.get("planning") is not None else None
    return Scenario(
        name=name,
        path=None if path is None else path.resolve(),
        description=description,
        seed=seed,
        target=target,
        mock=mock,
        prompt_sets=prompt_sets,
        sampling=sampling,
        load=load,
        slo=slo,
        sweep=sweep,
        planning=planning,
    )


# -- overrides --------------------------------------------------------------------------------


def _overrides(overrides: Mapping[str, Any] | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """The values that win over the file: environment first, then the command line on top."""
    given: dict[str, tuple[Any, str]] = {}  # key -> (value, the variable or flag it came from)
    for key, var in ENV_VARS.items():
        if environ.get(var):
            given[key] = (environ[var], var)
    for key, value in (overrides or {}).items():
        if key in OVERRIDE_KEYS and value is not None:
            given[key] = (value, _FLAGS[key])
    cli = Where("command line")
    checked: dict[str, Any] = {}
    for key, (value, origin) in given.items():
        if key == "host":
            checked[key] = _base_url(cli, value, origin)
        elif key == "model":
            checked[key] = cli.string(value, origin)
        elif key == "profile":
            checked[key] = cli.choice(value, origin, PROFILES)
        elif key == "users":
            checked[key] = cli.integer(value, origin, lo=1, hi=MAX_USERS)
        elif key in ("spawn_rate", "rate_rps"):
            checked[key] = cli.number(value, origin, lo=0, lo_open=True)
        else:
            checked[key] = cli.duration(value, origin)
    return checked


def _base_url(where: Where, value: Any, key: str) -> str:
    url = where.string(value, key).strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise where.error(key, f"expected a URL like http://127.0.0.1:8000, got {url!r}")
    return url


# -- blocks -----------------------------------------------------------------------------------


def _target(
    where: Where, raw: Any, base_dir: Path, given: Mapping[str, Any], environ: Mapping[str, str]
) -> Target:
    key = "target"
    block = where.mapping(raw, key) if raw is not None else {}
    where.known_keys(
        block,
        key,
        ("base_url", "path", "model", "profile", "headers", "api_key_env", "timeouts", "tokenizer"),
    )
    base_url = block.get("base_url")
    if base_url is not None:
        base_url = _base_url(where, base_url, join(key, "base_url"))
    base_url = given.get("host", base_url)
    url_path = block.get("path", "/v1/chat/completions")
    url_path = where.string(url_path, join(key, "path"))
    if not url_path.startswith("/"):
        raise where.error(
            join(key, "path"), f"must start with '/', like /v1/chat/completions; got {url_path!r}"
        )
    model = where.string(block["model"], join(key, "model")) if block.get("model") is not None else "o"
    model = given.get("model", model)
    profile = block.get("profile", "seed")
    profile = where.choice(profile, join(key, "profile"), PROFILES)
    profile = given.get("profile", profile)
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
        where.known_keys(tblock, tkey, ("connect_s", "first_byte_s", "total_s"))
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
    )


def _mock(where: Where, raw: Any) -> Mapping[str, Any]:
    if raw is None:
        return {}
    block = where.mapping(raw, "mock")
    try:
        json.dumps(block)
    except (TypeError, ValueError, RecursionError):
        raise where.error("mock", "must hold plain values (numbers, strings, lists, mappings)") from None
    try:
        from bench.mock.settings import MockSettings  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # the mock package is optional for loading a scenario
        return block
    where.known_keys(block, "mock", [f.name for f in dataclasses.fields(MockSettings)])
    try:
        MockSettings.from_mapping(block)
    except ScenarioError as exc:
        key = exc.key or "mock"
        message = str(exc)
        if message.startswith(f"{key}: "):  # the mock's error names the key itself; say it once
            message = message[len(key) + 2 :]
        raise where.error(key, message) from None
    except (ChatbenchError, ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise where.error("mock", str(exc)) from None
    return block


def _distribution(
    where: Where,
    value: Any,
    key: str,
    *,
    integer: bool,
    lo: float,
    what: str,
    hi: float | None = None,
) -> Distribution:
    """A number, or {uniform: [lo, hi]}, {normal: {mean, stdev, min, max}}, {exponential: {mean}},
    {empirical: [...]}."""
    allowed = "a number, {uniform: [lo, hi]}, {normal: {mean, stdev, min, max}}, {exponential: {mean}} or {empirical: [...]}"
    if not isinstance(value, Mapping):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Fixed(where.number(value, key, lo=lo, hi=hi, integer=integer))
        raise where.error(key, f"expected {what}: {allowed}")
    block = where.mapping(value, key)
    where.known_keys(block, key, ("uniform", "normal", "exponential", "empirical"))
    if len(block) != 1:
        raise where.error(key, f"give exactly one distribution: {allowed}")
    kind, spec = next(iter(block.items()))
    sub = join(key, kind)
    if kind == "uniform":
        bounds = where.list(spec, sub)
        if len(bounds) != 2:
            raise where.error(sub, "expected [low, high]")
        a = where.number(bounds[0], join(sub, 0), lo=lo, hi=hi, integer=integer)
        b = where.number(bounds[1], join(sub, 1), lo=lo, hi=hi, integer=integer)
        if a > b:
            raise where.error(sub, f"low {a:g} is above high {b:g}; expected [low, high]")
        return Uniform(a, b, integer=integer)
    if kind == "empirical":
        values = where.list(spec, sub)
        return Empirical(
            tuple(where.number(v, join(sub, i), lo=lo, hi=hi, integer=integer) for i, v in enumerate(values))
        )
    params = where.mapping(spec, sub)
    if kind == "exponential":
        where.known_keys(params, sub, ("mean",))
        return Exponential(where.number(where.required(params, sub, "mean"), join(sub, "mean"), lo=0))
    where.known_keys(params, sub, ("mean", "stdev", "min", "max"))
    mean = where.number(where.required(params, sub, "mean"), join(sub, "mean"), lo=lo, hi=hi)
    stdev = where.number(where.required(params, sub, "stdev"), join(sub, "stdev"), lo=0)
    low = (
        where.number(params["min"], join(sub, "min"), lo=lo, hi=hi, integer=integer)
        if "min" in params
        else lo
    )
    high = (
        where.number(params["max"], join(sub, "max"), lo=lo, hi=hi, integer=integer)
        if "max" in params
        else min(mean + 4 * stdev, hi if hi is not None else math.inf)
    )
    if low > high:
        raise where.error(sub, f"min {low:g} is above max {high:g}")
    return Normal(mean, stdev, low, high, integer=integer)


def _prompt_sets(
    where: Where,
    raw: Mapping[str, Any],
    base_dir: Path,
    profile: str,
    sampling: SamplingSpec,
    seed: int,
    counter: Callable[[str], int],
) -> tuple[PromptSet, ...]:
    if "prompt_sets" not in raw:
        defaults = load_inline(
            where,
            list(DEFAULT_PROMPTS),
            "prompt_sets",
            prompt_set="default",
            multi_turn=False,
            max_turns=None,
        )
        return (PromptSet("default", 1.0, "inline", sampling, conversations=defaults),)
    sets = []
    names: set[str] = set()
    for i, item in enumerate(where.list(raw["prompt_sets"], "prompt_sets")):
        key = join("prompt_sets", i)
        block = where.mapping(item, key)
        sources = ("inline", "jsonl", "sharegpt", "synthetic")
        where.known_keys(block, key, ("name", *sources, "weight", "multi_turn", "max_turns", "sampling"))
        given_sources = [s for s in sources if s in block]
        if len(given_sources) != 1:
            raise where.error(
                key,
                f"give exactly one prompt source: inline, jsonl, sharegpt or synthetic (got {len(given_sources)})",
            )
        source = given_sources[0]
        skey = join(key, source)
        default_name = (
            Path(str(block[source])).stem
            if source in ("jsonl", "sharegpt") and isinstance(block[source], str)
            else f"{source}{i}"
        )
        name = (
            where.string(block["name"], join(key, "name")) if block.get("name") is not None else default_name
        )
        if name in names:
            raise where.error(
                join(key, "name"), f"prompt set name '{name}' is used twice; names must be unique"
            )
        names.add(name)
        weight = where.number(block.get("weight", 1), join(key, "weight"), lo=0, lo_open=True)
        multi_turn = where.boolean(block.get("multi_turn", False), join(key, "multi_turn"))
        max_turns = None
        if block.get("max_turns") is not None:
            if not multi_turn:
                raise where.error(join(key, "max_turns"), "only applies with multi_turn: true")
            max_turns = where.integer(block["max_turns"], join(key, "max_turns"), lo=1)
        set_sampling = parse_sampling(
            where, block.get("sampling"), join(key, "sampling"), profile, base=sampling
        )
        file_path = None
        synthetic = None
        conversations: tuple[Conversation, ...] = ()
        if source == "inline":
            conversations = load_inline(
                where, block[source], skey, prompt_set=name, multi_turn=multi_turn, max_turns=max_turns
            )
        elif source in ("jsonl", "sharegpt"):
            file_path = (base_dir / where.string(block[source], skey)).resolve()
            if source == "jsonl":
                conversations = load_jsonl(
                    where,
                    file_path,
                    skey,
                    prompt_set=name,
                    multi_turn=multi_turn,
                    max_turns=max_turns,
                    profile=profile,
                )
            else:
                conversations = load_sharegpt(
                    where,
                    file_path,
                    skey,
                    prompt_set=name,
                    multi_turn=multi_turn,
                    max_turns=max_turns,
                    counter=counter,
                )
        else:
            synthetic = _synthetic(
                where, block[source], skey, base_dir, multi_turn, seed=seed, set_name=name, counter=counter
            )
            if synthetic.count is not None:
                rng = random.Random(f"{seed}:synthetic:{name}")
                words = read_words(synthetic)
                conversations = tuple(
                    synthetic_conversation(
                        synthetic, rng, prompt_set=name, prompt_id=f"syn-{n}", words=words, counter=counter
                    )
                    for n in range(synthetic.count)
                )
        sets.append(
            PromptSet(
                name=name,
                weight=weight,
                source=source,  # type: ignore[arg-type]
                sampling=set_sampling,
                multi_turn=multi_turn or (synthetic is not None and synthetic.turns > 1),
                path=file_path,
                conversations=conversations,
                synthetic=synthetic,
                own_sampling=block.get("sampling") is not None,
            )
        )
    return tuple(sets)


@functools.lru_cache(maxsize=8)
def _read_words_file(path: str) -> tuple[str, ...]:
    return tuple(Path(path).read_text(encoding="utf-8").split())


def read_words(spec: SyntheticSpec) -> tuple[str, ...] | None:
    """The words of a synthetic set's ``words_file`` (None: the built-in list for its language)."""
    return None if spec.words_file is None else _read_words_file(str(spec.words_file))


def _synthetic(
    where: Where,
    raw: Any,
    key: str,
    base_dir: Path,
    multi_turn: bool,
    *,
    seed: int,
    set_name: str,
    counter: Callable[[str], int],
) -> SyntheticSpec:
    block = where.mapping(raw, key)
    where.known_keys(
        block,
        key,
        (
            "language",
            "prompt_tokens",
            "prefix_tokens",
            "output_tokens",
            "count",
            "turns",
            "system",
            "words_file",
        ),
    )
    language = where.choice(block.get("language", "en"), join(key, "language"), ("en", "zh"))
    prompt_tokens = _distribution(
        where,
        where.required(block, key, "prompt_tokens"),
        join(key, "prompt_tokens"),
        integer=True,
        lo=1,
        hi=MAX_PROMPT_TOKENS,
        what="a prompt length in tokens",
    )
    output_tokens = None
    if block.get("output_tokens") is not None:
        output_tokens = _distribution(
            where,
            block["output_tokens"],
            join(key, "output_tokens"),
            integer=True,
            lo=1,
            what="an output length in tokens",
            hi=MAX_PROMPT_TOKENS,
        )
    count = (
        where.integer(block["count"], join(key, "count"), lo=1, hi=100_000)
        if block.get("count") is not None
        else None
    )
    turns = where.integer(block.get("turns", 1), join(key, "turns"), lo=1, hi=1000)
    if turns > 1 and not multi_turn:
        raise where.error(join(key, "turns"), "more than one turn needs multi_turn: true on the prompt set")
    system = where.string(block["system"], join(key, "system")) if block.get("system") is not None else None
    words_file = None
    words: tuple[str, ...] | None = None
    if block.get("words_file") is not None:
        wkey = join(key, "words_file")
        words_file = (base_dir / where.string(block["words_file"], wkey)).resolve()
        if not words_file.is_file():
            raise where.error(
                wkey, f"file not found: {words_file} (relative paths are from the scenario file's folder)"
            )
        try:
            words = _read_words_file(str(words_file))
        except (OSError, UnicodeDecodeError) as exc:
            raise where.error(wkey, f"cannot read {words_file} as UTF-8 text: {exc}") from None
        if not any(count_tokens(w) > 0 for w in words):
            raise where.error(wkey, f"{words_file} holds no words (whitespace-separated words expected)")
    prefix_tokens = 0
    prefix = ""
    if block.get("prefix_tokens") is not None:
        pkey = join(key, "prefix_tokens")
        prefix_tokens = where.integer(block["prefix_tokens"], pkey, lo=0, hi=MAX_PROMPT_TOKENS)
        if prefix_tokens >= prompt_tokens.low:
            raise where.error(
                pkey,
                f"{prefix_tokens} must be below the shortest prompt_tokens ({prompt_tokens.low:g}): "
                "the prefix is part of each prompt",
            )
        if prefix_tokens:
            rng = random.Random(f"{seed}:prefix:{set_name}")
            prefix = generate_text(language, prefix_tokens, rng, words=words, counter=counter)
    return SyntheticSpec(
        prefix_tokens=prefix_tokens,
        prefix=prefix,
        language=language,  # type: ignore[arg-type]
        prompt_tokens=prompt_tokens,
        words_file=words_file,
        count=count,
        turns=turns,
        system=system,
        output_tokens=output_tokens,
    )


def _load(where: Where, raw: Any, given: Mapping[str, Any]) -> Load:
    key = "load"
    block = where.mapping(raw, key) if raw is not None else {}
    where.known_keys(
        block, key, ("users", "spawn_rate", "duration_s", "think_time_s", "stages", "arrival", "max_requests")
    )
    users = where.integer(block.get("users", 4), join(key, "users"), lo=1, hi=MAX_USERS)
    spawn_rate = (
        where.number(block["spawn_rate"], join(key, "spawn_rate"), lo=0, lo_open=True)
        if block.get("spawn_rate") is not None
        else float(users)
    )
    duration_s = where.duration(block.get("duration_s", 30), join(key, "duration_s"))
    think: float | Distribution = 0.0
    if block.get("think_time_s") is not None:
        dist = _distribution(
            where,
            block["think_time_s"],
            join(key, "think_time_s"),
            integer=False,
            lo=0,
            what="a think time in seconds",
        )
        think = dist.value if isinstance(dist, Fixed) else dist
    arrival = None
    if block.get("arrival") is not None:
        arrival = _arrival(where, block["arrival"], join(key, "arrival"))
    max_requests = (
        where.integer(block["max_requests"], join(key, "max_requests"), lo=1)
        if block.get("max_requests") is not None
        else None
    )
    stages: tuple[Stage, ...] = ()
    if block.get("stages") is not None:
        skey = join(key, "stages")
        parsed = []
        for i, item in enumerate(where.list(block["stages"], skey)):
            ikey = join(skey, i)
            st = where.mapping(item, ikey)
            where.known_keys(st, ikey, ("duration_s", "users", "spawn_rate", "rate_rps"))
            st_users = where.integer(
                where.required(st, ikey, "users"), join(ikey, "users"), lo=0, hi=MAX_USERS
            )
            rate = None
            if st.get("rate_rps") is not None:
                if arrival is None:
                    raise where.error(
                        join(ikey, "rate_rps"), "a stage rate needs an open-loop load.arrival block"
                    )
                rate = where.number(st["rate_rps"], join(ikey, "rate_rps"), lo=0, lo_open=True)
            elif arrival is not None:
                rate = arrival.rate_rps
            parsed.append(
                Stage(
                    duration_s=where.duration(
                        where.required(st, ikey, "duration_s"), join(ikey, "duration_s")
                    ),
                    users=st_users,
                    spawn_rate=where.number(st["spawn_rate"], join(ikey, "spawn_rate"), lo=0, lo_open=True)
                    if st.get("spawn_rate") is not None
                    else spawn_rate,
                    rate_rps=rate,
                )
            )
        if all(stage.users == 0 for stage in parsed):
            raise where.error(skey, "every stage has 0 users; at least one stage needs users")
        stages = tuple(parsed)
    stages_given = bool(stages)

    # Command-line/environment load values replace the file's shape with one stage.
    if any(k in given for k in ("users", "spawn_rate", "duration_s")):
        if "users" in given:
            users = given["users"]
            if block.get("spawn_rate") is None:
                spawn_rate = float(users)  # the default: every user starts within a second
        spawn_rate = given.get("spawn_rate", spawn_rate)
        duration_s = given.get("duration_s", duration_s)
        stages, stages_given = (), False
    if "rate_rps" in given:
        rate_rps = given["rate_rps"]
        arrival = Arrival(rate_rps) if arrival is None else replace(arrival, rate_rps=rate_rps)
        stages = tuple(replace(stage, rate_rps=rate_rps) for stage in stages)
    if not stages:
        stages = (Stage(duration_s, users, spawn_rate, None if arrival is None else arrival.rate_rps),)
    return Load(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration_s if not stages_given else sum(s.duration_s for s in stages),
        think_time_s=think,
        stages=stages,
        arrival=arrival,
        max_requests=max_requests,
        stages_given=stages_given,
    )


def _arrival(where: Where, raw: Any, key: str) -> Arrival:
    block = where.mapping(raw, key)
    where.known_keys(block, key, ("rate_rps", "process", "burstiness", "max_inflight"))
    rate = where.number(where.required(block, key, "rate_rps"), join(key, "rate_rps"), lo=0, lo_open=True)
    process = where.choice(
        block.get("process", "poisson"), join(key, "process"), ("poisson", "constant", "gamma")
    )
    burstiness = where.number(block.get("burstiness", 1.0), join(key, "burstiness"), lo=0, lo_open=True)
    if burstiness != 1.0 and process != "gamma":
        raise where.error(join(key, "burstiness"), "only applies with process: gamma (1 is Poisson)")
    max_inflight = (
        where.integer(block["max_inflight"], join(key, "max_inflight"), lo=1)
        if block.get("max_inflight") is not None
        else None
    )
    return Arrival(rate, process, burstiness, max_inflight)  # type: ignore[arg-type]


def _slo(where: Where, raw: Any) -> Slo:
    if raw is None:
        return Slo()
    block = where.mapping(raw, "slo")
    where.known_keys(block, "slo", (*METRICS, "error_rate"))
    thresholds = []
    error_rate = None
    for metric, value in block.items():
        mkey = join("slo", metric)
        if metric == "error_rate":
            if value is not None:
                error_rate = where.number(value, mkey, lo=0, hi=1)
            continue
        stats = where.mapping(value, mkey)
        if not stats:
            raise where.error(mkey, f"give at least one statistic: {', '.join(STATS)}")
        where.known_keys(stats, mkey, STATS)
        for stat, limit in stats.items():
            thresholds.append(
                SloThreshold(metric, stat, where.number(limit, join(mkey, stat), lo=0, lo_open=True))
            )
    return Slo(tuple(thresholds), error_rate)


def _sweep(where: Where, raw: Any) -> Sweep:
    key = "sweep"
    block = where.mapping(raw, key)
    where.known_keys(
        block,
        key,
        ("mode", "levels", "step_duration_s", "warmup_s", "stop_error_rate", "stop_latency_factor"),
    )
    mode = where.choice(block.get("mode", "concurrency"), join(key, "mode"), ("concurrency", "rate"))
    lkey = join(key, "levels")
    levels = tuple(
        where.number(v, join(lkey, i), lo=0, lo_open=True, integer=mode == "concurrency")
        for i, v in enumerate(where.list(where.required(block, key, "levels"), lkey))
    )
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise where.error(lkey, f"levels must increase strictly, got {list(levels)}")
    step = where.duration(block.get("step_duration_s", 20), join(key, "step_duration_s"))
    warmup = where.duration(block.get("warmup_s", 5), join(key, "warmup_s"), positive=False)
    if warmup >= step:
        raise where.error(
            join(key, "warmup_s"), f"{warmup:g} s must be shorter than step_duration_s ({step:g} s)"
        )
    return Sweep(
        mode=mode,  # type: ignore[arg-type]
        levels=levels,
        step_duration_s=step,
        warmup_s=warmup,
        stop_error_rate=where.number(
            block.get("stop_error_rate", 0.5), join(key, "stop_error_rate"), lo=0, hi=1, lo_open=True
        ),
        stop_latency_factor=where.number(
            block.get("stop_latency_factor", 10.0), join(key, "stop_latency_factor"), lo=1, lo_open=True
        ),
    )


def _planning(where: Where, raw: Any) -> Planning:
    key = "planning"
    block = where.mapping(raw, key)
    where.known_keys(block, key, ("target_users", "target_rps", "headroom"))
    return Planning(
        target_users=where.integer(block["target_users"], join(key, "target_users"), lo=1)
        if block.get("target_users") is not None
        else None,
        target_rps=where.number(block["target_rps"], join(key, "target_rps"), lo=0, lo_open=True)
        if block.get("target_rps") is not None
        else None,
        headroom=where.number(block.get("headroom", 0.2), join(key, "headroom"), lo=0, hi=0.95),
    )
