"""Load a scenario file (YAML) into a validated, frozen ``Scenario``.

``load_scenario(path, overrides)`` is the one entry point. Values come from, highest first:

    1. ``overrides`` (the command line: host, model, profile, users, spawn_rate, duration_s, rate_rps,
       resend)
    2. environment variables: CHATBENCH_HOST, CHATBENCH_MODEL, CHATBENCH_PROFILE
    3. the scenario file
    4. built-in defaults

Anything wrong in the file (or in a prompt file it names) raises one ``ScenarioError`` naming the
file, the key path (``prompt_sets[1].sampling.top_p``), the line when known and what is allowed.
The schema is documented in ``docs/scenarios.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from bench.errors import ScenarioError
from bench.profiles import get_profile, profile_names
from bench.scenario.checks import Where, join
from bench.scenario.loadshape import MAX_USERS, for_schedule, parse_load, with_overrides
from bench.scenario.mockblock import parse_mock
from bench.scenario.model import Scenario
from bench.scenario.promptset import parse_prompt_sets
from bench.scenario.sampling import parse_sampling
from bench.scenario.slo import parse_slo
from bench.scenario.sweep import parse_planning, parse_sweep
from bench.scenario.target import check_options, parse_base_url, parse_target, target_counter
from bench.servermetrics.spec import parse_server_metrics

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
    "server_metrics",
)
OVERRIDE_KEYS = ("host", "model", "profile", "users", "spawn_rate", "duration_s", "rate_rps", "resend")
ENV_VARS = {"host": "CHATBENCH_HOST", "model": "CHATBENCH_MODEL", "profile": "CHATBENCH_PROFILE"}
_FLAGS = {
    "host": "--host",
    "model": "--model",
    "profile": "--profile",
    "users": "--users",
    "spawn_rate": "--spawn-rate",
    "duration_s": "--duration",
    "rate_rps": "--rate",
    "resend": "--no-resend",
}


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
    if data is None:
        # Running every default from an empty file hides a truncated file or a wrong path.
        raise ScenarioError(
            "the file is empty (no YAML document, only blanks or comments); a scenario needs at least "
            "one key, e.g. name: my-test",
            file=file,
        )
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


def token_counter(scenario: Scenario) -> Callable[[str], int]:
    """How this scenario counts tokens: its tokenizer file, else chatbench's rule (``count_tokens``)."""
    return target_counter(scenario.target)


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

    target = parse_target(where, raw.get("target"), base_dir, env)
    target = replace(
        target,
        base_url=given.get("host", target.base_url),
        model=given.get("model", target.model),
        profile=given.get("profile", target.profile),
        resend=given.get("resend", target.resend),
    )
    check_options(where, target)
    profile = target.api
    counter = target_counter(target)
    mock = parse_mock(where, raw.get("mock"))
    if target.base_url is None and mock.get("strict") is True:
        mock_profile = get_profile(mock.get("profile", "seed"))
        extra = sorted(profile.body_keys - mock_profile.body_keys)
        if extra:
            raise where.error(
                "mock.strict",
                f"a strict {mock_profile.name}-profile mock rejects the keys the {profile.name} profile adds "
                f"({', '.join(extra)}); set mock.profile: {profile.name}, or target.profile: {mock_profile.name}",
            )
    sampling = parse_sampling(where, raw.get("sampling"), "sampling", profile)
    prompt_sets = parse_prompt_sets(where, raw, base_dir, profile, sampling, seed, counter)
    load_block = raw.get("load")
    load = with_overrides(
        parse_load(where, load_block),
        given,
        file_spawn_rate=isinstance(load_block, Mapping) and load_block.get("spawn_rate") is not None,
    )
    scheduled = [ps for ps in prompt_sets if ps.source.scheduled]
    if scheduled:
        if len(prompt_sets) > 1:
            raise where.error(
                "prompt_sets",
                f"a {scheduled[0].kind} prompt set sets the arrivals: it must be the only prompt set",
            )
        if "rate_rps" in given:
            raise Where("command line").error(
                "--rate", "a trace sets its own send times; scale them with the trace's time_scale instead"
            )
        times = [c.at_s or 0.0 for c in scheduled[0].conversations]
        duration_given = "duration_s" in given or (
            isinstance(load_block, Mapping) and load_block.get("duration_s") is not None
        )
        load = for_schedule(where, load, load_block, times, duration_given=duration_given)
    slo = parse_slo(where, raw.get("slo"))
    sweep = parse_sweep(where, raw.get("sweep")) if raw.get("sweep") is not None else None
    planning = parse_planning(where, raw.get("planning")) if raw.get("planning") is not None else None
    server_metrics = parse_server_metrics(where, raw.get("server_metrics"))
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
        server_metrics=server_metrics,
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
            checked[key] = parse_base_url(cli, value, origin)
        elif key == "model":
            checked[key] = cli.string(value, origin)
        elif key == "profile":
            checked[key] = cli.choice(value, origin, profile_names())
        elif key == "users":
            checked[key] = cli.integer(value, origin, lo=1, hi=MAX_USERS)
        elif key == "resend":
            checked[key] = cli.boolean(value, origin)
        elif key in ("spawn_rate", "rate_rps"):
            checked[key] = cli.number(value, origin, lo=0, lo_open=True)
        else:
            checked[key] = cli.duration(value, origin)
    return checked
