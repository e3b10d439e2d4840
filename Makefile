# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-quick lint zoo-table weights-table clean

$(BIN)/videozoo: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/videozoo
	$(BIN)/videozoo demo

# The whole suite, slow end-to-end tests included (CI runs this).
test: $(BIN)/videozoo
	$(BIN)/python -m pytest -m "slow or not slow"

# Quick tests only: what plain `pytest` runs.
test-quick: $(BIN)/videozoo
	$(BIN)/python -m pytest

lint: $(BIN)/videozoo
	$(BIN)/ruff check src tests benchmarks

# Regenerate the model zoo table in README.md (from the registry) and the weights catalogue in docs/weights.md.
zoo-table weights-table: $(BIN)/videozoo
	$(BIN)/python -m videozoo.readme_table README.md docs/weights.md

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
