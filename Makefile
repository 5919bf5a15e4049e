# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install modeltap, serve an MLflow model with collection on, show what was captured
#   make test   - create/use .venv, install dev dependencies, run ruff, mypy, the docs build
#                 (mkdocs --strict) and the whole test suite
#   make test-fast - unit tests only (no servers, emulators, subprocesses or sockets), for the edit loop
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast install-dev bench lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# the demo trains and serves an MLflow model: mlflow-skinny (pyfunc save/load without the
# tracking server, UI and their pins, e.g. pyarrow<26) and scikit-learn on top of the server
$(VENV)/.installed-demo: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[server,mlflow]"
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[dev]"
	test -x .cache/azurite/node_modules/.bin/azurite-blob || \
		npm install --prefix .cache/azurite --no-audit --no-fund azurite
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) || \
		echo "chromium not installed: the browser tests will be skipped (apt-get install -y chromium)"
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/python examples/server/demo.py

install-dev: $(VENV)/.installed-dev
	@command -v java >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq default-jre-headless; }  # Spark in tests/compat

lint: install-dev
	$(BIN)/ruff check src tests bench examples docs
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir .cache/site

docs: install-dev
	$(BIN)/mkdocs serve

test: install-dev lint
	$(BIN)/pytest -q

# unit tests only (tests/conftest.py marks the rest `integration`); fails a test that still
# starts a process or opens a socket
test-fast: install-dev
	MODELTAP_TEST_TIER=fast $(BIN)/pytest -q -m "not integration and not slow"

bench: install-dev
	$(BIN)/python bench/collector.py

clean:
	rm -rf $(VENV) modeltap-data site
