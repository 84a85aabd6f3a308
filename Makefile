# Single entry point. Every target first makes sure .venv exists
# (tools/setup_env.sh is idempotent: a second run returns at once).
PY := .venv/bin/python

.PHONY: setup demo test lint format

setup:
	@bash tools/setup_env.sh

# The demo fits its training to 10 minutes from here, creating .venv included.
demo:
	started=$$(date +%s); bash tools/setup_env.sh && $(PY) tools/demo.py --started-at $$started

test: setup
	$(PY) -m pytest -q

lint: setup
	.venv/bin/ruff format --check . && .venv/bin/ruff check .

format: setup
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
