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

test: $(STAMP)
	scripts/test-services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy switchboard channels bot routing knowledge_base storage console ivr

bench: $(STAMP)
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/kb_search.py

clean:
	rm -rf $(VENV) var .pytest_cache
