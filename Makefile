# Single entry point. Every target first makes sure .venv exists
# (tools/setup_env.sh is idempotent: a second run returns at once).
PY := .venv/bin/python

.PHONY: setup demo test test-all lint format

setup:
	@bash tools/setup_env.sh

# The demo fits its training to 10 minutes from here, creating .venv included
# (e.g. make demo DEMO_ARGS='--time-budget 900' for 15 minutes).
DEMO_ARGS ?=
demo:
	started=$$(date +%s); bash tools/setup_env.sh && $(PY) tools/demo.py --started-at $$started $(DEMO_ARGS)

# The quick suite while developing (under 5 minutes warm): everything but the tests
# marked slow (the end-to-end run of every config, and tool runs of more than ~5 s).
test: setup
	$(PY) -m pytest -q -m "not slow"

# The whole suite, as CI runs it (.ci/run).
test-all: setup
	$(PY) -m pytest -q

lint: setup
	.venv/bin/ruff format --check . && .venv/bin/ruff check .

format: setup
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
