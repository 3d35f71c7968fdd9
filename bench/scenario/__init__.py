"""Scenario files: what load to replay and against what (loading, validation, request bodies)."""
