"""Degenerate thinking is dropped, sound thinking is kept: the repetition measures against a corpus of both.

``tests/data/traces/corpus.json`` holds 24 degenerate traces (12 English, 12 Chinese: loops of a sentence,
a paragraph, a list line, two alternating sentences, a sound plan ending in a loop, a phrase, numbered items,
a marker, a long sentence, a heading block, a question, a sentence with one word changed) and 24 sound ones
(plans that name their parts, a refrain quoted twice, Chinese planning prose), each degenerate one with the
measure that must fire. Written for reer; CC0.
"""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reer.config import FilterConfig, gopher_limits
from reer.errors import ConfigError
from reer.filters import failed_checks
from reer.filters.checks import Thinking, gopher_repetition, repetition
from reer.filters.repetition import MEASURES, _units, describe, exceeded, repetition_measures
from reer.records import Pair
from reer.records.trajectory import InitialTrace, Trajectory
from tests.conftest import LONG_REFERENCE

CORPUS = json.loads((Path(__file__).parent / "data" / "traces" / "corpus.json").read_text(encoding="utf-8"))
DEGENERATE = [row for row in CORPUS if row["kind"] == "degenerate"]
SOUND = [row for row in CORPUS if row["kind"] == "sound"]
CONFIG = FilterConfig()


def trajectory(row: dict) -> Thinking:
    trace = row["text"]
    initial = InitialTrace(opener="", raw=trace, trace=trace, num_tokens=400, finish_reason="stop", generate_seconds=1)
    query = "写一个故事。" if row["language"] == "zh" else "Write a story."
    pair = Pair(id=row["id"], query=query, reference=LONG_REFERENCE)
    t = Trajectory(item_id=row["id"], language=row["language"], status="done", initial=initial, final_trace=trace)
    return Thinking.of(pair, t)


def test_the_corpus_is_large_enough_in_both_languages():
    for kind in ("degenerate", "sound"):
        for language in ("en", "zh"):
            assert sum(r["kind"] == kind and r["language"] == language for r in CORPUS) >= 12


@pytest.mark.parametrize("row", DEGENERATE, ids=[r["id"] for r in DEGENERATE])
def test_every_degenerate_trace_is_dropped_by_the_measure_that_must_fire(row):
    t = trajectory(row)
    reason, detail = gopher_repetition(t, CONFIG)
    assert reason == "gopher-repetition"
    must = row["must_fire"]
    value = repetition_measures(row["text"])[must]
    assert value > CONFIG.repetition_limits[must]
    assert f"{value:.2f} > {CONFIG.repetition_limits[must]:.2f}" in detail  # measure, value and limit named
    assert "gopher-repetition" in failed_checks(t, CONFIG)


@pytest.mark.parametrize("row", SOUND, ids=[r["id"] for r in SOUND])
def test_every_sound_trace_passes_every_check(row):
    assert failed_checks(trajectory(row), CONFIG) == {}


def test_the_published_trigram_rule_alone_keeps_most_loops():
    """Why the Gopher measures exist: the REER.md §4 rule misses loops of long sentences."""
    caught = [row["id"] for row in DEGENERATE if repetition(trajectory(row), CONFIG)]
    assert len(caught) <= len(DEGENERATE) // 4, caught
    kept_by_rule = next(r for r in DEGENERATE if r["id"] == "en-loop-01")
    assert repetition(trajectory(kept_by_rule), CONFIG) is None  # one sentence seven times: under 30 %


def test_detail_names_each_measure_over_its_limit():
    failed = {"dup_10gram_char_frac": (0.72, 0.10), "dup_line_frac": (0.5, 0.3)}
    assert describe(failed) == "characters in duplicate 10-grams 0.72 > 0.10; duplicate lines 0.50 > 0.30"
    measures = repetition_measures(DEGENERATE[0]["text"])
    assert set(exceeded(measures, gopher_limits())) <= set(MEASURES)
    loose = FilterConfig(repetition_limits=dict.fromkeys(MEASURES, 1.0))
    assert gopher_repetition(trajectory(DEGENERATE[0]), loose) is None  # every limit at 1: switched off


def test_limits_are_validated_and_merged_with_the_defaults():
    config = FilterConfig(repetition_limits={"dup_10gram_char_frac": 0.25})
    assert config.repetition_limits["dup_10gram_char_frac"] == 0.25
    assert config.repetition_limits["dup_line_frac"] == 0.30  # Table A1 default kept
    with pytest.raises(ValueError, match="unknown measure dup_11gram"):
        FilterConfig(repetition_limits={"dup_11gram_char_frac": 0.1})
    with pytest.raises(ValueError, match="a limit is a fraction"):
        FilterConfig(repetition_limits={"dup_line_frac": 0})
    from reer.config import load_config

    with pytest.raises(ConfigError, match="unknown measure"):
        load_config(overrides={"filters.repetition_limits.top_9gram_char_frac": 0.2})


# --- against datatrove's implementation (the reference the arithmetic follows) -------------------------------


def datatrove_measures(text: str) -> dict[str, float]:
    """Datatrove's GopherRepetitionFilter arithmetic on our units (its word tokenizer needs NLTK/spaCy models)."""
    from datatrove.pipeline.filters import gopher_repetition_filter as dt

    words = re.findall(r"\S+", text)
    out = {}
    for name, pieces in (("para", re.split(r"\n{2,}", text.strip())), ("line", re.split(r"\n+", text))):
        count, chars = dt.find_duplicates(pieces)
        out[f"dup_{name}_frac"], out[f"dup_{name}_char_frac"] = count / len(pieces), chars / len(text)
    for n in (2, 3, 4):
        grams = dt.get_n_grams(words, n)
        out[f"top_{n}gram_char_frac"] = dt.find_top_duplicate(grams) / len(text) if grams else 0.0
    for n in range(5, 11):
        out[f"dup_{n}gram_char_frac"] = dt.find_all_duplicate(words, n) / len(text)
    return {name: min(1.0, value) for name, value in out.items()}


# Spaced text with single spaces between words (datatrove joins a top n-gram's words with one space).
_WORDS = st.sampled_from(["the", "keeper", "waits", "a", "sea", ".", "wait,", "hmm", "dawn", "x"])
_SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n"])
_SPACED = st.lists(st.tuples(_WORDS, _SEPARATORS), min_size=1, max_size=120).map(
    lambda parts: "".join(w + s for w, s in parts).strip()
)


@pytest.mark.needs("datatrove")
@settings(max_examples=300, deadline=None)
@given(_SPACED)
def test_measures_equal_datatrove_on_spaced_text(text):
    ours, theirs = repetition_measures(text), datatrove_measures(text)
    assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.needs("datatrove")
@pytest.mark.parametrize("row", [r for r in CORPUS if r["language"] == "en"], ids=lambda r: r["id"])
def test_measures_equal_datatrove_on_the_english_corpus(row):
    text = re.sub(r"[ \t]+", " ", row["text"])  # one space between words, as datatrove's join assumes
    assert repetition_measures(text) == pytest.approx(datatrove_measures(text), abs=1e-12)


# --- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_measures_lie_in_the_unit_interval_and_never_raise(text):
    measures = repetition_measures(text)
    assert set(measures) == set(MEASURES)
    assert all(0.0 <= value <= 1.0 for value in measures.values())


_MIXED = st.lists(st.sampled_from(list("ab 我们\n\t.,") + ["寂静", "keeper", "ひら", "ไทย"]), max_size=80).map("".join)


@settings(max_examples=300, deadline=None)
@given(_MIXED)
def test_a_chinese_loop_is_measured_in_characters(text):
    """Units in unspaced scripts are characters; a repeated Chinese sentence is a repeated 10-gram."""
    units, lengths, _ = _units(text)
    unspaced = "\u3040-\u30ff\u4e00-\u9fff\u0e00-\u0e7f"
    assert len(units) == len(lengths) == len(re.findall(rf"[{unspaced}]|[^\s{unspaced}]+", text))
    loop = "看守人每天晚上爬上楼梯数着台阶" * 5 + text
    assert repetition_measures(loop)["dup_10gram_char_frac"] > 0


@settings(max_examples=300, deadline=None)
@given(_SPACED)
def test_the_fast_path_for_spaced_text_equals_the_pattern(text):
    fast = _units(text)
    slow = _units(text + "我")  # one unspaced character takes the pattern path for the whole text
    for ours, pattern in zip(fast, slow, strict=True):
        assert ours.tolist() == pattern.tolist()[: len(ours)]
