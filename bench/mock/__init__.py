"""The embedded mock LLM server: an OpenAI-style chat endpoint with a real serving model.

It is the default target of ``chatbench run`` when no host is given, the ground truth of the tests,
and a way to try chatbench without a GPU. It runs in its own process on asyncio/uvloop, never inside
Locust's gevent-patched process: ``start_mock(settings)`` starts it as a subprocess. See docs/mock.md.

This package's ``__init__`` and ``settings``/``process`` modules import only the standard library.
"""

from __future__ import annotations

from bench.mock.process import MockHandle, start_mock
from bench.mock.settings import FAULT_KINDS, MockSettings

__all__ = ["FAULT_KINDS", "MockHandle", "MockSettings", "start_mock"]
