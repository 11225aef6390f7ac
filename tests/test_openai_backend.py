"""The `openai` backend against a real OpenAI-compatible server: llama-cpp-python's, started on 127.0.0.1."""

import pytest

from reer.backends import GenerationRequest, Sampling, ScoreRequest, load_backend
from reer.backends.openai_backend import _finish
from reer.config import ModelConfig
from tests.conftest import CHAT, CONTENT, REFERENCE, SERVER_KEY, SERVER_KEY_ENV, needs_llama_server


def served(url: str, **fields) -> ModelConfig:
    tokenizer = "smollm2-135m-instruct"  # the served name is the server's; prompts are tokenized here
    return ModelConfig(
        backend="openai", base_url=url, api_key_env=SERVER_KEY_ENV, model="smollm2", tokenizer=tokenizer, **fields
    )


@pytest.fixture
def backend(llama_server, monkeypatch):
    monkeypatch.setenv(SERVER_KEY_ENV, SERVER_KEY)
    return load_backend(served(llama_server), "score", "scorer")


@needs_llama_server
def test_generation_honours_stop_strings_n_and_seeds(backend):
    sampling = Sampling(temperature=0.9, top_p=0.95, max_new_tokens=24, stop=(".",), seed=7)
    request = GenerationRequest(messages=CHAT[:2], sampling=sampling, prefill="<think>\n", n=3)
    first = backend.generate([request])[0]
    assert len(first) == 3 and all("." not in g.text for g in first)  # the server ignores n: asked one by one
    assert all(g.finish_reason in ("stop", "length") for g in first)
    assert all(g.num_tokens == len(backend.tokenizer(g.text, add_special_tokens=False)["input_ids"]) for g in first)
    assert any(g.finish_reason == "length" and g.num_tokens == 24 for g in first) or any(g.text for g in first)
    assert backend.generate([request])[0] == first  # seeded


@needs_llama_server
def test_echo_scores_match_in_process_llamacpp_and_transformers(backend, embedded_dir):
    """The same GGUF in-process gives the same numbers (tight); the transformers scorer runs the dequantized
    weights in fp32, whose kernels differ from llama.cpp's quantized ones (looser, stated tolerance)."""
    import llama_cpp
    import numpy as np

    from reer.backends.models import embedded_gguf_path
    from reer.backends.render import encode

    request = ScoreRequest(messages=CHAT, span=(CONTENT.index(REFERENCE), len(CONTENT)))
    served_scores = backend.score([request])[0]
    encoded = encode(backend.tokenizer, request)
    llm = llama_cpp.Llama(str(embedded_gguf_path()), logits_all=True, n_ctx=512, n_threads=2, verbose=False)
    llm.eval(encoded.ids)
    logits = np.asarray(llm.scores[: len(encoded.ids)], dtype=np.float64)
    logsoftmax = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    in_process = [float(logsoftmax[j - 1, encoded.ids[j]]) for j in encoded.scored]
    assert served_scores.tokens == encoded.tokens and len(served_scores.token_logprobs) == len(in_process)
    assert np.max(np.abs(np.subtract(served_scores.token_logprobs, in_process))) < 1e-3

    reference = load_backend(ModelConfig(), "score").score([request])[0]
    gaps = np.abs(np.subtract(served_scores.token_logprobs, reference.token_logprobs))
    assert gaps.mean() < 0.15 and gaps.max() < 0.5, (gaps.mean(), gaps.max())


@needs_llama_server
def test_a_server_that_reports_no_context_length_leaves_the_configured_one(llama_server, monkeypatch):
    """llama-cpp-python's /v1/models names the model but no max_model_len (vLLM's does: tests/test_vllm.py)."""
    monkeypatch.setenv(SERVER_KEY_ENV, SERVER_KEY)
    assert load_backend(served(llama_server)).context_length == 8192
    assert load_backend(served(llama_server, context_length=2048)).context_length == 2048


def test_a_served_model_without_a_local_tokenizer_says_what_to_set():
    from reer.errors import BackendError

    with pytest.raises(BackendError, match="set tokenizer:"):
        load_backend(ModelConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="Qwen3-32B"))


def test_the_finish_reason_tells_a_stop_string_from_the_end_of_the_sequence():
    assert _finish({"finish_reason": "length"}, False, ("</think>",)) == "length"
    assert _finish({"finish_reason": "stop", "stop_reason": "</think>"}, False, ("</think>",)) == "stop"
    assert _finish({"finish_reason": "stop", "stop_reason": None}, False, ("</think>",)) == "eos"  # vLLM
    assert _finish({"finish_reason": "stop"}, False, ()) == "eos"
    assert _finish({"finish_reason": "stop"}, True, ("</think>",)) == "stop"


def test_requests_go_through_the_proxy_the_environment_names(monkeypatch):
    import urllib3

    from reer.backends.http import Traffic

    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    proxied = Traffic(["http://judge.example/v1"], None, 4, 1.0, 1.0, 0).client
    assert isinstance(proxied, urllib3.ProxyManager) and proxied.proxy.port == 3128
    monkeypatch.setenv("NO_PROXY", "judge.example")
    direct = Traffic(["http://judge.example/v1"], None, 4, 1.0, 1.0, 0).client
    assert not isinstance(direct, urllib3.ProxyManager)
