"""Pre-filters on pairs: token bounds (scorer tokenizer), language, exact and near-duplicate removal."""

import pytest

from reer.config import PrefilterConfig
from reer.data.prefilter import deduplicate, prefilter
from reer.errors import ConfigError
from reer.language import units
from reer.records import Pair
from tests.conftest import LONG_REFERENCE, needs_embedded


def words(text: str) -> int:
    return len(units(text))


def make(pair_id: str, query: str, reference: str = LONG_REFERENCE) -> Pair:
    return Pair(id=pair_id, query=query, reference=reference)


def test_token_bounds_and_language_are_each_a_recorded_reason():
    config = PrefilterConfig(min_query_tokens=3, max_query_tokens=20, min_reference_tokens=40, dedup=False)
    pairs = [
        make("ok", "Write a short story about a lighthouse keeper."),
        make("short-q", "Story please"),
        make("long-q", "Write " + "a very long request " * 10),
        make("short-ref", "Write a poem about rain and the sea.", "Rain falls."),
        make("french", "Écris une histoire sur un phare et la mer pour les enfants.", LONG_REFERENCE),
        make("zh-ok", "请写一个关于灯塔看守人的短篇故事，要有温情。", "灯塔看守人已经十一天没有和任何人说话了。" * 10),
    ]
    kept, drops = prefilter(pairs, config, words)
    assert [p.id for p in kept] == ["ok", "zh-ok"]
    reasons = {d.id: d.reason for d in drops}
    assert reasons == {
        "short-q": "query-too-short",
        "long-q": "query-too-long",
        "short-ref": "reference-too-short",
        "french": "language",
    }
    assert all(d.detail for d in drops)
    english_only = PrefilterConfig(min_query_tokens=0, min_reference_tokens=0, languages=["en"], dedup=False)
    kept, drops = prefilter(pairs[:1] + pairs[-1:], english_only, words)
    assert [p.id for p in kept] == ["ok"] and drops[0].reason == "language"


def test_exact_and_near_duplicates_keep_the_first():
    near = LONG_REFERENCE.replace("eleven days", "twelve days")
    other = "A completely different text about gardens, bees and the slow business of growing tomatoes. " * 3
    pairs = [
        make("first", "Write a story about a lighthouse keeper."),
        make("exact", "write a story about a   lighthouse keeper."),  # same request up to case and spaces
        make("near", "Tell me a tale of a keeper of a lighthouse, please.", near),
        make("different", "Write an essay about gardening.", other),
    ]
    kept, drops = deduplicate(pairs, PrefilterConfig())
    assert [p.id for p in kept] == ["first", "different"]
    assert [(d.id, d.reason) for d in drops] == [("exact", "duplicate-query"), ("near", "near-duplicate-reference")]
    assert "first" in drops[1].detail
    strict = PrefilterConfig(near_duplicate_threshold=0.95)
    assert [p.id for p in deduplicate(pairs, strict)[0]] == ["first", "near", "different"]
    with pytest.raises(ConfigError, match="raise num_perm"):
        deduplicate(pairs, PrefilterConfig(near_duplicate_threshold=0.99, num_perm=16))


@needs_embedded
def test_lengths_are_counted_with_the_scorer_tokenizer(embedded_dir):
    from reer.backends.models import load_tokenizer

    tokenizer = load_tokenizer("smollm2-135m-instruct")
    count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    reference_tokens = count(LONG_REFERENCE)
    assert reference_tokens != words(LONG_REFERENCE)
    config = PrefilterConfig(min_reference_tokens=reference_tokens + 1)
    kept, drops = prefilter([make("a", "Write a story about a lighthouse keeper.")], config, count)
    assert not kept and drops[0].detail == f"{reference_tokens} tokens < {reference_tokens + 1}"
