"""The `openai` backend's HTTP overhead: the same generation work through llama-cpp-python's server on
127.0.0.1 vs in-process llama.cpp, at max_concurrency 1 and 4."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

from reer.backends import GenerationRequest, Sampling, load_backend
from reer.backends.models import embedded_gguf_path
from reer.config import ModelConfig


def _requests(count: int, max_new_tokens: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            messages=[{"role": "user", "content": f"Write a story about lighthouse keeper number {i}."}],
            prefill="<think>\n",
            sampling=Sampling(0.8, 0.9, max_new_tokens, seed=i),
        )
        for i in range(count)
    ]


def _tokens_per_s(backend, requests) -> float:
    started = time.perf_counter()
    out = backend.generate(requests)
    return sum(g[0].num_tokens for g in out) / (time.perf_counter() - started)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(count: int = 8, max_new_tokens: int = 96) -> dict:
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf_path()), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "4096", "--n_threads", "2"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/models").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        requests = _requests(count, max_new_tokens)
        local = load_backend(ModelConfig(backend="llamacpp"))
        local.generate(requests[:1])  # warm-up: the first call maps the model
        result = {
            "requests": count,
            "max_new_tokens": max_new_tokens,
            "in_process_tok_s": _tokens_per_s(local, requests),
        }
        for concurrency in (1, 4):
            served = ModelConfig(
                backend="openai", base_url=url, model="smollm2", tokenizer="smollm2-135m-instruct",
                max_concurrency=concurrency,
            )  # fmt: skip
            result[f"server_c{concurrency}_tok_s"] = _tokens_per_s(load_backend(served), requests)
        result["overhead_ratio"] = result["server_c1_tok_s"] / result["in_process_tok_s"]
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)
