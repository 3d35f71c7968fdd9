# One command for the static checks: `make check`.
PY ?= .venv/bin/python

.PHONY: check lint typecheck test
check: lint typecheck

lint:
	$(PY) -m ruff check bench tests benchmarks
	$(PY) -m ruff format --check bench tests benchmarks

typecheck:
	$(PY) -m mypy

test:
	$(PY) -m pytest -q
