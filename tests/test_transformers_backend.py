"""The transformers backend against direct computations with the same model."""

from __future__ import annotations

import pytest
import torch

from reer.backends.base import GenerationRequest, Sampling, ScoreRequest
from reer.backends.render import render_prompt, render_scored
from reer.backends.transformers_backend import TransformersBackend
from reer.config import ModelConfig
from reer.errors import ModelNotFoundError
from reer.search.scoring import score_request
from tests.conftest import LONG_REFERENCE, QWEN3_LIKE, THINKING_HEADER, direct_logprobs


@pytest.fixture(scope="session")
def tiny(tiny_model_dir):
    return TransformersBackend(ModelConfig(model=str(tiny_model_dir), device="cpu"))


@pytest.mark.parametrize("backend_name", ["tiny", "smollm"])
def test_span_scores_equal_direct_computation(request, backend_name):
    backend = request.getfixturevalue(backend_name)
    req = score_request("en", "Write a story about a lighthouse keeper.", "I should open with silence.", LONG_REFERENCE)
    result = backend.score([req])[0]
    expected, text, (start, end), offsets = direct_logprobs(backend, req)
    assert len(result.token_logprobs) == len(expected) > 50
    assert max(abs(a - b) for a, b in zip(result.token_logprobs, expected, strict=True)) < 1e-5
    assert "".join(result.tokens) == text[offsets[0][0] : offsets[-1][1]]
    assert text[start:end] in "".join(result.tokens)
    assert result.context_tokens > 0


def test_token_straddling_the_span_start_belongs_to_the_span(tiny):
    content = "<think>\nx\n</think>\n<answer>\nunbelievably wonderful\n</answer>"
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]
    end = content.index("\n</answer>")
    text, _ = render_scored(tiny.tokenizer, messages, (0, 0))
    offset = text.rindex(content)
    offsets = tiny.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
    s, e = next((s, e) for s, e in offsets if s >= offset + content.index("unbelievably") and e - s >= 3)
    inside = tiny.score([ScoreRequest(messages=messages, span=(s - offset + 1, end))])[0]
    aligned = tiny.score([ScoreRequest(messages=messages, span=(s - offset, end))])[0]
    # A span starting inside a token scores that whole token, exactly as a span starting at the token does.
    assert inside.tokens[0] == text[s:e]
    assert inside.tokens == aligned.tokens and inside.token_logprobs == aligned.token_logprobs
    just_after = tiny.score([ScoreRequest(messages=messages, span=(e - offset, end))])[0]
    assert just_after.tokens == aligned.tokens[1:]


@pytest.fixture
def templated(tiny):
    original = tiny.tokenizer.chat_template
    yield tiny
    tiny.tokenizer.chat_template = original


@pytest.mark.parametrize("template", ["smollm2", "qwen3-like", "thinking-header"])
def test_scored_text_is_the_generation_prompt_then_the_raw_answer(templated, template):
    tok = templated.tokenizer
    if template != "smollm2":
        tok.chat_template = QWEN3_LIKE if template == "qwen3-like" else THINKING_HEADER
    req = score_request("en", "Write about a keeper.", "I open with silence.", LONG_REFERENCE)
    system_user, content = list(req.messages[:2]), req.messages[-1]["content"]
    whole_turn = tok.apply_chat_template(list(req.messages), tokenize=False)
    if template != "smollm2":  # the template really rewrites the assistant turn it is given
        assert content not in whole_turn and "</think>\n\n<answer>" in whole_turn
    header = tok.apply_chat_template(system_user, tokenize=False, add_generation_prompt=True)
    expected_prompt = header.strip()[: -len("<think>")] if template == "thinking-header" else header

    text, (start, end) = render_scored(tok, req.messages, req.span)
    assert text == expected_prompt + content
    assert text.endswith(content) and "<think>\n<think>" not in text and "assistant<think>\n" not in text
    assert text[start:end] == LONG_REFERENCE[LONG_REFERENCE.index("\n\nOn the twelfth") :]
    result = templated.score([req])[0]
    expected, *_ = direct_logprobs(templated, req)
    assert max(abs(a - b) for a, b in zip(result.token_logprobs, expected, strict=True)) < 1e-5
    assert text[start:end] in "".join(result.tokens)


def test_generation_prefill_is_appended_raw(templated):
    tok = templated.tokenizer
    tok.chat_template = QWEN3_LIKE
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    prefill = "Lead-in.\n<analyze>\n"  # a trailing newline the template route would strip
    header = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert render_prompt(tok, messages, prefill) == header + prefill


def test_generation_stops_at_stop_string_and_is_seeded(smollm):
    sampling = Sampling(temperature=0.8, top_p=0.85, max_new_tokens=40, stop=(".",), seed=5)
    req = GenerationRequest(
        messages=[{"role": "user", "content": "Describe the sea in two sentences."}],
        sampling=sampling,
        prefill="The sea",
        n=2,
    )
    first = smollm.generate([req])[0]
    assert len(first) == 2
    for g in first:
        assert g.finish_reason == "stop" and "." not in g.text and 0 < g.num_tokens < 40
    assert smollm.generate([req])[0] == first


def test_length_limit_is_reported(smollm):
    req = GenerationRequest(
        messages=[{"role": "user", "content": "Write a long essay about rivers."}],
        sampling=Sampling(0.8, 0.85, 8, seed=1),
    )
    [[g]] = smollm.generate([req])
    assert g.finish_reason == "length" and g.num_tokens == 8


def test_missing_models_fail_clearly(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        TransformersBackend(ModelConfig(model=str(tmp_path)))
    with pytest.raises(ModelNotFoundError, match="nothing is downloaded"):
        TransformersBackend(ModelConfig(model="nobody/no-such-model-xyz"))


def test_cached_conversion_matches_the_gguf(embedded_dir, smollm):
    """The safetensors cache holds exactly the weights transformers reads from the GGUF."""
    from transformers import AutoModelForCausalLM

    from reer.backends.models import embedded_gguf_path

    path = embedded_gguf_path()
    gguf = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    ids = torch.tensor([smollm.tokenizer("The lighthouse keeper").input_ids])
    with torch.no_grad():
        assert torch.allclose(gguf(ids).logits, smollm.model(ids).logits, atol=1e-5)
    assert (embedded_dir / "model.safetensors").exists()


def test_any_gguf_file_is_a_model_converted_once_into_the_cache(smollm, tmp_path, monkeypatch):
    """A user's .gguf path: transformers scores with its dequantised weights (converted once, keyed by the file),
    and the tokenizer alone is read from the file without converting any weights."""
    from reer.backends.models import converted_dir, embedded_gguf_path, load_tokenizer

    monkeypatch.setenv("REER_CACHE_DIR", str(tmp_path / "cache"))
    gguf = tmp_path / "mine.gguf"
    gguf.symlink_to(embedded_gguf_path())
    text = "The lighthouse keeper\n\nlit the lamp."
    assert load_tokenizer(str(gguf))(text)["input_ids"] == smollm.tokenizer(text)["input_ids"]
    assert not (tmp_path / "cache").exists()  # no weights converted for a tokenizer
    mine = TransformersBackend(ModelConfig(model=str(gguf), device="cpu"))
    req = score_request("en", "Write about a keeper.", "I open with silence.", LONG_REFERENCE)
    assert mine.score([req])[0].token_logprobs == pytest.approx(smollm.score([req])[0].token_logprobs, abs=1e-5)
    assert converted_dir(str(gguf)).parent == tmp_path / "cache" / "models" / "gguf"
    with pytest.raises(ModelNotFoundError, match="no such GGUF file"):
        TransformersBackend(ModelConfig(model=str(tmp_path / "missing.gguf")))


def test_cache_dir_respects_environment(monkeypatch, tmp_path):
    from reer.cache import cache_dir

    monkeypatch.delenv("REER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "reer"
    monkeypatch.setenv("REER_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_generator_and_scorer_share_one_model_unless_configured_apart(tiny_model_dir, smollm):
    from reer.backends import open_backends
    from reer.config import ReerConfig

    same = ReerConfig(generator=ModelConfig(device="cpu"))
    generator, scorer = open_backends(same)
    assert generator is scorer and generator.model is smollm.model  # loaded once per process
    apart = ReerConfig(generator=ModelConfig(device="cpu"), scorer=ModelConfig(model=str(tiny_model_dir), device="cpu"))
    generator, scorer = open_backends(apart)
    assert generator is not scorer and scorer.model.config.num_hidden_layers == 2
    assert generator.model.config.num_hidden_layers == 30


def test_batched_generation_of_different_prompts_matches_one_by_one(tiny):
    """Left padding must not change what a prompt generates: greedy, batched == alone."""
    requests = [
        GenerationRequest(messages=[{"role": "user", "content": text}], sampling=Sampling(0.0, 1.0, 12), n=n)
        for text, n in [("Short prompt.", 1), ("A much longer prompt about lighthouses, keepers and the sea.", 2)]
    ]
    batched = tiny.generate(requests)
    alone = [tiny.generate([r])[0] for r in requests]
    assert [len(b) for b in batched] == [1, 2]
    assert batched == alone


def test_batched_prefix_reuse_equals_naive_per_candidate(smollm):
    """A step's candidates (shared prefix, one batch) and another item's request in the same call."""
    from reer.backends.render import encode
    from reer.backends.span_scorer import shared_prefix

    segments = [f"Paragraph {i}: the keeper climbs the stairs and counts the ships again. " * 4 for i in range(6)]
    candidates = [
        "Hmm, maybe the girl should arrive first, rowing hard against the tide. " * 3,
        "Wait, what if the coffee tin is the real heart of the story? " * 4,
    ]
    requests = [
        score_request(
            "en", "Write about a lighthouse keeper.", "\n\n".join([*segments[:3], c, *segments[4:]]), LONG_REFERENCE
        )
        for c in candidates
    ]
    requests.append(score_request("en", "A different item entirely.", "Short thinking.\n\nMore.", LONG_REFERENCE))
    encoded = [encode(smollm.tokenizer, r) for r in requests[:2]]
    assert shared_prefix(encoded) > 100  # the candidates really share a long prefix
    results = smollm.score(requests)
    for request, result in zip(requests, results, strict=True):
        expected, *_ = direct_logprobs(smollm, request)
        assert len(result.token_logprobs) == len(expected)
        assert max(abs(a - b) for a, b in zip(result.token_logprobs, expected, strict=True)) < 1e-4


def test_budget_is_capped_by_the_context_and_a_full_prompt_fails_its_item(tiny_model_dir):
    from reer.backends.base import PromptTooLongError

    backend = TransformersBackend(ModelConfig(model=str(tiny_model_dir), device="cpu", context_length=256))
    words = " ".join(["lighthouse"] * 200)
    prompt = render_prompt(backend.tokenizer, [{"role": "user", "content": words}])
    prompt_tokens = len(backend.tokenizer(prompt, add_special_tokens=False).input_ids)
    assert 200 < prompt_tokens < 250
    req = GenerationRequest(messages=[{"role": "user", "content": words}], sampling=Sampling(1.0, 1.0, 8000, seed=1))
    [[g]] = backend.generate([req])
    assert g.num_tokens <= 256 - prompt_tokens and g.finish_reason in {"length", "eos"}
    too_long = GenerationRequest(
        messages=[{"role": "user", "content": words * 2}], sampling=Sampling(1.0, 1.0, 10, seed=1)
    )
    with pytest.raises(PromptTooLongError, match="leaves no room in the model's 256-token context"):
        backend.generate([too_long])
