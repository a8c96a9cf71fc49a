# The two commands: `make run` (service on SQLite with demo data) and `make test` (whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/switchboard db upgrade
	$(BIN)/switchboard demo
	$(BIN)/switchboard serve

# Tests run in parallel, spread test by test (xdist's loadgroup did not keep a group together
# with pytest 9 here, so none is used);
# every worker has its own PostgreSQL database, SQLite files and Redis channel.
TEST_WORKERS ?= 4

test: $(STAMP)
	scripts/test-services
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy switchboard channels bot routing knowledge_base storage console ivr

bench: $(STAMP)
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/kb_search.py
	$(BIN)/python bench/assignment.py
	$(BIN)/python bench/bot_accuracy.py
	$(BIN)/python bench/language.py
	$(BIN)/python bench/analytics.py --db sqlite

clean:
	rm -rf $(VENV) var .pytest_cache
