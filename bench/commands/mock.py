"""`chatbench mock`: serve the embedded mock LLM server until Ctrl-C or SIGTERM.

It prints exactly one line to stdout when it listens (``chatbench mock listening on http://HOST:PORT``)
and exits 0 on Ctrl-C/SIGTERM. Every option is a field of ``bench.mock.settings.MockSettings``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per ``MockSettings`` field."""
    from bench.mock.settings import MockSettings  # stdlib-only module

    parser.description = (
        "Serve an OpenAI-style mock LLM server (POST /v1/chat/completions, GET /v1/models, GET /health) "
        "with batch slots, a FIFO queue, prefill and per-token times, and injectable faults. "
        "Force a fault on one request with the header 'X-Mock-Fault: KIND'."
    )
    MockSettings.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bench.mock.server import LISTENING, serve
    from bench.mock.settings import MockSettings

    settings = MockSettings.from_args(args)

    def announce(url: str) -> None:
        print(f"{LISTENING} {url}", flush=True)
        print(_summary(settings), file=sys.stderr, flush=True)

    return serve(settings, on_listening=announce)


def _summary(s: Any) -> str:
    """What the mock will do, for the person who started it (stderr: stdout carries only the URL)."""
    faults = ", ".join(f"{kind} {rate:g}" for kind, rate in s.fault_rates().items()) or "none"
    return (
        f"model '{s.model}', {s.profile} profile{' (strict)' if s.strict else ''}; "
        f"{s.batch_slots} batch slots; TTFT {s.prefill_base_ms:g} ms + {s.prefill_per_token_ms:g} ms/prompt token "
        f"+ queue; {s.tpot_ms:g} ms/token (+{s.batch_slowdown:g} per extra sequence); "
        f"output {s.output_dist} around {s.output_tokens} tokens; faults: {faults}. Ctrl-C stops."
    )
