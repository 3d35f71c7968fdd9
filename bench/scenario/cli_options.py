"""The command-line flags that override a scenario file, shared by run, ui, validate and capacity.

Standard library only: ``bench.commands.*`` import this at module level and ``chatbench --help``
must stay light. ``overrides_from_args(args)`` gives the mapping ``load_scenario`` takes; a flag
left out is absent from it, so the environment and the file keep their say (precedence: flag >
environment variable > scenario file > built-in default).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from bench.profiles import get_profile, profile_names

__all__ = ["add_override_arguments", "duration_seconds", "overrides_from_args", "parse_duration"]

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def duration_seconds(text: str) -> float | None:
    """Seconds in ``30``, ``30s``, ``2m``, ``1h30m``, ``1.5h`` (0 allowed); None if not a duration."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_duration(text: str) -> float:
    """Seconds above 0 in ``30``, ``30s``, ``2m``, ``1h30m``, ``1.5h`` (an argparse ``type``)."""
    total = duration_seconds(text)
    if total is None:
        raise argparse.ArgumentTypeError(f"cannot read {text!r} as a duration; use e.g. 30, 30s, 2m or 1h30m")
    if total <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be above 0, got {text!r}")
    return total


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --host, --model, --profile, --users/-u, --spawn-rate/-r, --duration/-t, --rate, --no-resend."""
    group = parser.add_argument_group("scenario overrides (win over the environment and the file)")
    group.add_argument(
        "--host",
        metavar="URL",
        help="server base URL, e.g. http://127.0.0.1:8000 (default: $CHATBENCH_HOST, else the "
        "scenario's target.base_url, else the embedded mock)",
    )
    group.add_argument(
        "--model", help="model name sent in each request (default: $CHATBENCH_MODEL or target.model)"
    )
    group.add_argument(
        "--profile",
        choices=profile_names(),
        help="request profile: " + "; ".join(get_profile(name).help for name in profile_names()),
    )
    group.add_argument("-u", "--users", type=_positive_int, metavar="N", help="concurrent users")
    group.add_argument(
        "-r", "--spawn-rate", type=_positive_float, metavar="PER_S", help="users started per second"
    )
    group.add_argument(
        "-t", "--duration", type=parse_duration, metavar="TIME", help="run time: 30, 30s, 2m, 1h30m"
    )
    group.add_argument(
        "--rate", type=_positive_float, metavar="RPS", help="open-loop arrival rate in requests per second"
    )
    group.add_argument(
        "--no-resend",
        dest="resend",
        action="store_const",
        const=False,
        default=None,
        help="never send a request again, not even when a kept-alive connection was closed before any "
        "answer byte (strict measurement: such a request is a failed record; target.resend)",
    )


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The override flags that were given, keyed as ``load_scenario`` expects."""
    pairs = {
        "host": getattr(args, "host", None),
        "model": getattr(args, "model", None),
        "profile": getattr(args, "profile", None),
        "users": getattr(args, "users", None),
        "spawn_rate": getattr(args, "spawn_rate", None),
        "duration_s": getattr(args, "duration", None),
        "rate_rps": getattr(args, "rate", None),
        "resend": getattr(args, "resend", None),
    }
    return {key: value for key, value in pairs.items() if value is not None}
