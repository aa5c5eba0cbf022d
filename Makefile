# Zammad → Kimai Sync. `make run` serves the app, `make test` runs the tests. Both need only
# Python 3.11+: they create .venv, install the locked dependencies and (without DATABASE_URL)
# start an embedded PostgreSQL server in var/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.txt
STAMP := $(VENV)/.installed-$(shell sha256sum $(LOCK) 2>/dev/null | cut -c1-16)
# The project itself and the connector packages of plugins/<name>/ (each with its own
# pyproject.toml), installed in editable mode so their entry points (the connector kinds,
# apps/connectors/registry.py) exist in .venv; again whenever one of the pyproject.toml changes.
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
PROJECT := $(VENV)/.project-$(shell cat pyproject.toml $(wildcard plugins/*/pyproject.toml) 2>/dev/null | sha256sum | cut -c1-16)
CHROMIUM ?= /usr/bin/chromium
# pytest-xdist: one process per core, each with its own test database on the same server.
# `make test XDIST=` runs in one process.
XDIST ?= -n auto

.PHONY: run test lint fuzz format check-containers demo clean help

help:
	@echo "make run     serve http://127.0.0.1:8000 with a worker (Ctrl-C stops everything)"
	@echo "make test    run the whole test suite"
	@echo "make lint    ruff check + ruff format --check + mypy + lint-imports (the layers)"
	@echo "make fuzz    schemathesis over the whole OpenAPI document, against the served app"
	@echo "make demo    run the Zammad and Kimai test doubles with demo data on 127.0.0.1, and"
	@echo "             set up the demo pair in the database once \`make run\` has migrated it"

$(STAMP): $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

# The lock holds dependencies only (setuptools, the build backend, among them): the packages are
# installed without them and without build isolation, so nothing unpinned is downloaded.
$(PROJECT): $(STAMP) pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation --editable . $(addprefix --editable ,$(PLUGINS))
	@rm -f $(VENV)/.project-* && touch $(PROJECT)

run: $(PROJECT)
	$(BIN)/python manage.py run

test: $(PROJECT)
	@if [ -x "$(CHROMIUM)" ]; then \
		$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS); \
	else \
		echo "NOTE: $(CHROMIUM) not found, so the browser tests are deselected."; \
		echo "      Install Debian's chromium (apt-get install chromium) to run them too."; \
		$(BIN)/python -m pytest $(XDIST) -m "not browser" $(PYTEST_ARGS); \
	fi

lint: $(PROJECT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# FUZZ_EXAMPLES bounds the examples per operation (CI uses the default).
FUZZ_EXAMPLES ?= 25
fuzz: $(PROJECT)
	$(BIN)/python -m tests.support.fuzz --max-examples $(FUZZ_EXAMPLES)

format: $(PROJECT)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check-containers: $(PROJECT)
	$(BIN)/python -m pytest tests/deploy -q

demo: $(PROJECT)
	$(BIN)/python -m tests.doubles.serve --configure-pair

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
