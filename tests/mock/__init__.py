"""Tests of the embedded mock server (bench.mock)."""
