"""Tests of bench.capacity: step figures, knee, replicas, the sweep driver, the command."""
