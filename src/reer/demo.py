"""`reer demo`: real Arena-Hard pairs → search → export on the embedded model, sized for a 2-core CPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from reer.config import EMBEDDED_MODEL, FilterConfig, ModelConfig, ReerConfig, SearchConfig
from reer.data.sources import arena_hard_creative, cut_reference
from reer.export import ExportResult, export_dataset
from reer.language import text_language
from reer.records.pair import Pair, write_pairs

# Published search settings, shrunk only where CPU time demands: fewer segments visited and shorter
# generations. The 135M model never closes its analysis on its own, so the analysis is capped and the
# <refine> paragraph generated after it (`analysis_tokens`). Threshold, expansions, sampling and clip stay at
# the REER.md defaults.
DEMO_SEARCH = {"max_steps": 2, "max_new_tokens_initial": 320, "max_new_tokens_refine": 224, "analysis_tokens": 64}
DEMO_REFERENCE_WORDS = 200
# Measured on 74 initial traces of SmolLM2-135M (budgets 128–600 tokens, llama.cpp and transformers): it never
# writes </think>. At a 320-token budget 17 of 26 traces ran to the budget, and 16 of those failed only the
# `truncated` filter; the 9 it ended itself were 36–95 tokens (rejected: < 100) but for one of 255. So the demo
# keeps budget-cut thinking (filters.keep_truncated), and the card says so.
LIMITS = (
    "SmolLM2-135M shows every stage working (search, scores going down, resume, filters, export), but it never "
    "closes its thinking, so the demo keeps thinking cut at its token budget: real data needs a capable generator."
)


def demo_pairs(items: int, reference_words: int = DEMO_REFERENCE_WORDS) -> list[Pair]:
    """The first English creative-writing pairs, references cut to whole paragraphs."""
    english = [p for p in arena_hard_creative() if text_language(p.query) == text_language(p.reference) == "en"]
    return [p.model_copy(update={"reference": cut_reference(p.reference, reference_words)}) for p in english[:items]]


def demo_config(seed: int = 0) -> ReerConfig:
    """llama.cpp generates when it is installed (5–7× faster here); transformers scores."""
    generator = ModelConfig(backend="llamacpp" if importlib.util.find_spec("llama_cpp") else "transformers")
    search = SearchConfig(**DEMO_SEARCH)
    filters = FilterConfig(keep_truncated=True)
    return ReerConfig(generator=generator, scorer=ModelConfig(), search=search, filters=filters, seed=seed)


def prepare_demo(out_dir: Path, items: int) -> Path:
    """Write the demo's pairs file and return its path."""
    path = out_dir / "pairs.jsonl"
    write_pairs(demo_pairs(items), path)
    return path


def export_demo(out_dir: Path, seed: int = 0) -> tuple[ExportResult, ExportResult]:
    """The run's full search records, and the SFT dataset the filters keep (template-checked with SmolLM2)."""
    records = export_dataset(out_dir / "run", out_dir / "records", "records", filters=None)
    dataset = export_dataset(
        out_dir / "run", out_dir / "dataset", filters=demo_config(seed).filters, check_template_of=EMBEDDED_MODEL
    )
    return records, dataset
