"""Helpers of the load tests: scenario files for the embedded mock with known timings, short bounded
runs, and the request reader of the tests' own tiny HTTP servers."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml


def write_scenario(
    tmp_path: Path,
    *,
    name: str = "lt",
    mock: dict[str, Any] | None = None,
    load: dict[str, Any] | None = None,
    stream: Any = True,
    profile: str = "seed",
    timeouts: dict[str, float] | None = None,
    prompts: list[Any] | None = None,
    multi_turn: bool = False,
) -> Path:
    """A scenario against the embedded mock (fixed TTFT 200 ms, 20 ms per token, 50 tokens by default)."""
    mock_settings = {
        "prefill_base_ms": 200,
        "prefill_per_token_ms": 0,
        "tpot_ms": 20,
        "batch_slowdown": 0,
        "batch_slots": 256,
        "output_dist": "fixed",
        "output_tokens": 50,
        **(mock or {}),
    }
    prompt_set: dict[str, Any] = {
        "name": "p",
        "weight": 1,
        "inline": prompts or ["Say something about load tests.", "请介绍一下你自己"],
    }
    if multi_turn:
        prompt_set["multi_turn"] = True
    data = {
        "name": name,
        "seed": 1,
        "target": {
            "base_url": None,
            "profile": profile,
            "timeouts": timeouts or {"connect_s": 5, "first_byte_s": 10, "total_s": 20},
        },
        "mock": mock_settings,
        "prompt_sets": [prompt_set],
        "sampling": {"temperature": 0.5, "stream": stream},
        "load": {"users": 1, "spawn_rate": 10, "duration_s": 3, **(load or {})},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP/1.1 request with a Content-Length body from ``conn``; returns its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += conn.recv(65536)
    return body


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server the test starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
