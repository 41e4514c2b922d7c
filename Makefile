# LabGate: `make run` runs the main job, `make test` sets up everything and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Real face data for calibration, tests and the demo (never copied into the repository).
LABGATE_DATA ?= $(firstword $(wildcard $(abspath ../shared/data) /work/shared/data))
export LABGATE_DATA

.PHONY: run test setup models lint typecheck unit clean

run: models
	$(BIN)/labgate-models demo

test: models lint typecheck
	$(BIN)/pytest

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[tools,dev]'
	$(BIN)/pip install --quiet --no-deps facenet-pytorch==2.6.0
	touch $@

models: setup
	$(BIN)/labgate-models build

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

clean:
	rm -rf $(VENV) artifacts tests/artifacts .mypy_cache .ruff_cache .pytest_cache
