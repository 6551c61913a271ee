# Two commands on a fresh machine: `make run` serves keyturn, `make test` runs the suite.
# Both install from the hashed lock files in requirements/ (`make lock` rewrites them).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
UV_VERSION := 0.13.9
LINTED := app emulators tests bench alembic

.PHONY: run test lint install install-dev migrate openapi lock bench-read bench-rotation bench-console chaos clean \
	console-screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python requirements/run.txt pyproject.toml
	$(PIP) --require-hashes --no-deps -r requirements/run.txt
	$(PIP) --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements/dev.txt
	$(PIP) --require-hashes --no-deps -r requirements/dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/keyturn migrate

# A web process per available CPU (KEYTURN_WEB_WORKERS to choose) and one supervised rotation worker.
run: migrate
	$(BIN)/keyturn serve

# Both cores: pytest-xdist runs one worker per CPU; each worker has its own databases.
test: install-dev
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy app
	$(BIN)/lint-imports

# Re-pin every dependency after editing pyproject.toml (uv resolves; pip installs the result).
lock: $(BIN)/python
	$(PIP) uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet -o requirements/run.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --extra test --extra lint --generate-hashes \
		--quiet -o requirements/dev.txt

openapi: install
	$(BIN)/keyturn openapi

bench-read: install-dev
	$(PIP) -e '.[bench]'
	$(BIN)/python -m bench.read_path

bench-rotation: install-dev
	$(BIN)/python -m bench.rotation_throughput

bench-console: install-dev
	$(BIN)/python -m bench.console_render

# The README's console screenshots, from the browser test's flow on SQLite (needs chromium and chromium-driver).
console-screenshots: install-dev
	KEYTURN_CONSOLE_SCREENSHOTS=docs/console KEYTURN_TEST_BROWSER_REQUIRED=1 \
		$(BIN)/pytest -q -p no:cacheprovider tests/console/test_browser.py -k sqlite

chaos: install-dev
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
