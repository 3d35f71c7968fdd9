"""Tests of bench.gates: SLO gate, JUnit, compare, capacity."""
