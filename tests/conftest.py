"""Shared test fixtures. Tests mirror the modules: tests/<area>/test_<module>.py."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

IN_CI = os.environ.get("CI") == "true"
