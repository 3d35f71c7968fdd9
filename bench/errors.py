"""The errors chatbench raises on purpose.

Every error a user can cause (a broken scenario file, a wrong flag, a server that is not there)
is a ``ChatbenchError``. The CLI prints it as one line and exits with code 2. Anything else that
escapes is a bug in chatbench and keeps its traceback.

    ChatbenchError
     ├── UsageError        a command-line flag or value is wrong
     ├── ScenarioError     a scenario file (or a prompt file it names) is wrong
     ├── TargetError       the server under test cannot be reached or used
     ├── MockError         the embedded mock server cannot start or is misconfigured
     └── ResultsError      a results directory is missing, empty or unreadable

A failed *request* during a run is not an error: it becomes a record with an error kind
(see ``bench.records``), and the run goes on.
"""

from __future__ import annotations

import json

__all__ = [
    "ChatbenchError",
    "MockError",
    "ResultsError",
    "ScenarioError",
    "TargetError",
    "UsageError",
    "error_text",
]


class ChatbenchError(Exception):
    """Root of every error chatbench raises on purpose. The CLI exits 2 on it."""

    exit_code = 2


class UsageError(ChatbenchError):
    """A command-line flag or value is wrong."""


class ScenarioError(ChatbenchError):
    """A scenario file, or a prompt file it names, is wrong.

    The message names the file, the key path (``prompt_sets[1].sampling.top_p``) and what is allowed.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class TargetError(ChatbenchError):
    """The server under test cannot be reached, or answers in a way chatbench cannot use."""


class MockError(ChatbenchError):
    """The embedded mock server cannot start (port in use, bad option)."""


class ResultsError(ChatbenchError):
    """A results directory is missing, empty or unreadable."""


def error_text(body: bytes) -> str:
    """The short human message of a server's error body: ``error.message`` when it is OpenAI-style
    JSON (or ``error`` when that is a string), else the body's text."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return body.decode("utf-8", "replace").strip()
