"""Tests of bench.gates: SLO gate, JUnit; synthetic runs shared with the compare and capacity tests."""
