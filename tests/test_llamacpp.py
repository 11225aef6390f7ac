"""The llama.cpp generator on the embedded GGUF (skipped where llama-cpp-python is not installed)."""

import pytest

from reer.backends.base import GenerationRequest, Sampling
from reer.backends.models import load_model
from reer.config import ModelConfig, ReerConfig, SearchConfig
from tests.conftest import Memory, require


@pytest.fixture(scope="module")
def llama(embedded_dir):
    require("llama_cpp")
    from reer.backends.llamacpp_backend import LlamaCppBackend

    return LlamaCppBackend(ModelConfig(backend="llamacpp"))


def _ask(llama, stop=(), max_new_tokens=40, seed=3, n=2, prefill="The sea"):
    request = GenerationRequest(
        messages=[{"role": "user", "content": "Describe the sea in two sentences."}],
        sampling=Sampling(0.8, 0.85, max_new_tokens, stop=stop, seed=seed),
        prefill=prefill,
        n=n,
    )
    return llama.generate([request])[0]


def test_stop_strings_end_generation_and_are_cut(llama):
    for g in _ask(llama, stop=(".",)):
        assert g.finish_reason == "stop" and "." not in g.text and 0 < g.num_tokens < 40


def test_length_and_seeded_reproducibility(llama):
    first = _ask(llama, max_new_tokens=24, n=4)
    assert "length" in {g.finish_reason for g in first}
    assert all(g.num_tokens == 24 for g in first if g.finish_reason == "length")
    assert all(g.num_tokens < 24 for g in first if g.finish_reason == "eos")
    assert _ask(llama, max_new_tokens=24, n=4) == first  # same seeds, same samples
    assert len({g.text for g in first}) > 1  # each candidate has its own seed


def test_end_of_sequence_is_told_apart_from_a_stop_string(llama):
    out = _ask(llama, stop=("</never>",), max_new_tokens=300, prefill="", n=1)
    assert out[0].finish_reason == "eos" and "<|im_end|>" not in out[0].text


def test_search_with_llamacpp_generator_and_transformers_scorer(llama, pair):
    from reer.backends import open_backends
    from reer.search.reer import Searcher, new_trajectory

    config = ReerConfig(
        generator=ModelConfig(backend="llamacpp"),
        scorer=ModelConfig(device="cpu"),
        search=SearchConfig(
            max_steps=2,
            max_new_tokens_initial=200,
            max_new_tokens_refine=128,
            analysis_tokens=32,
            min_initial_tokens=30,
            min_segment_chars=60,
        ),
    )
    generator, scorer = open_backends(config)
    assert generator is not scorer
    searcher = Searcher(generator, scorer, config.search, seed=0)
    for rollout in range(4):  # the tiny model sometimes stops thinking at once: REER rejects that
        t = searcher.run(pair, new_trajectory(pair, rollout), Memory())
        if t.status == "done":
            break
    assert t.status == "done" and t.final_score <= t.initial_score
    assert all(len(s.candidates) == 2 for s in t.steps)


def test_llamacpp_and_transformers_agree_on_the_same_weights(llama, smollm):
    """The same GGUF weights give the same next-token distribution in llama.cpp and transformers (fp32),
    and greedy decoding starts with one of the top tokens. Exact tokens are not compared: llama.cpp
    multiplies in quantised arithmetic, and its batched and one-token kernels (a fresh prompt versus one
    whose prefix is reused from the KV cache) can flip a near-tie — seen on one CPU: logits 24.91 vs 24.56."""
    import numpy as np
    import torch
    from llama_cpp import Llama

    from reer.backends.models import embedded_gguf_path
    from reer.backends.render import render_prompt

    messages = [{"role": "user", "content": "Name three colours of the sea."}]
    [[ours]] = llama.generate([GenerationRequest(messages=messages, sampling=Sampling(0.0, 1.0, 8))])
    assert ours.num_tokens == 8 and ours.finish_reason == "length"
    ids = llama.tokenizer(render_prompt(llama.tokenizer, messages), add_special_tokens=False)["input_ids"]
    probe = Llama(model_path=str(embedded_gguf_path()), n_ctx=512, logits_all=True, verbose=False)
    probe.eval(ids)
    llama_logits = np.array(probe.scores[len(ids) - 1])
    model, _ = load_model(ModelConfig(device="cpu"))
    with torch.no_grad():
        hf_logits = model(torch.tensor([ids])).logits[0, -1].numpy()
    assert np.corrcoef(llama_logits, hf_logits)[0, 1] > 0.99
    assert int(np.argmax(llama_logits)) in np.argsort(-hf_logits)[:3]
    assert int(np.argmax(hf_logits)) in np.argsort(-llama_logits)[:3]
    top3 = [probe.detokenize([int(i)]).decode().strip() for i in np.argsort(-llama_logits)[:3]]
    assert any(ours.text.strip().startswith(token) for token in top3), (ours.text, top3)
