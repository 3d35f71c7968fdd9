"""Tests of bench.metrics: the registry, and each metric's two forms (per record, vectorised) agreeing."""
