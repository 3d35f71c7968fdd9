"""`chatbench mock`: serve the embedded mock LLM server until Ctrl-C or SIGTERM.

It prints exactly one line to stdout when it listens (``chatbench mock listening on http://HOST:PORT``)
and exits 0 on Ctrl-C/SIGTERM. Every option is a field of ``bench.mock.settings.MockSettings``.
"""

from __future__ import annotations

import argparse


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

    return serve(settings, on_listening=announce)
