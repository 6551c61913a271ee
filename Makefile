# Two commands on a fresh machine: `make run` serves keyturn, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test migrate openapi bench-read bench-rotation chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/keyturn migrate

run: migrate
	$(BIN)/keyturn serve

test: install-test
	$(BIN)/pytest $(PYTEST_ARGS)

openapi: install
	$(BIN)/keyturn openapi

bench-read: install-test
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.read_path

bench-rotation: install-test
	$(BIN)/python -m bench.rotation_throughput

chaos: install-test
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) .pytest_cache
