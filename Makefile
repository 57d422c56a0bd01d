# scimd — `make run` starts the server on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# once more on failure: a package index answer cut short has failed a clean install
	$(BIN)/pip install --quiet --upgrade pip || $(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' || $(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/scimd serve

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)

PYTEST_ARGS ?= -n 2

test: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache

# `make bench` runs the full benchmark matrix, `make bench ARGS=--quick` a two-minute one
# (bench/README.md).
.PHONY: bench
bench: $(STAMP)
	sh bench/setup.sh
	$(BIN)/python bench/run.py $(ARGS)
