"""Tests of bench.compare."""
