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
DEMO_SEARCH = {
    "max_steps": 2,
    "max_new_tokens_initial": 320,
    "max_new_tokens_refine": 224,
    "analysis_tokens": 64,
    "frequency_penalty": 0.5,
}
DEMO_REFERENCE_WORDS = 200
# Measured on 100 initial traces of SmolLM2-135M (budgets 128–600 tokens, llama.cpp and transformers): it never
# writes </think>. At the demo's 320-token budget (seed 0), 17 of 26 llama.cpp traces ran to the budget and 16
# of those failed only the `truncated` filter; the traces it ended itself were 36–95 tokens (rejected: < 100)
# but one of 255. So the demo keeps budget-cut thinking (filters.keep_truncated; the card says so), and its
# items are the first of the 8 Arena-Hard requests (of 16 tried on both backends) whose initial thinking
# passed every other check with both llama.cpp and transformers.
# Loop control (not in the published method; the card says so): without it 16 of SmolLM2's 17 initial traces on
# 24 Arena-Hard pairs were loops that Gopher's measures drop; with frequency_penalty 0.5, none of 18
# (`python -m bench loops`, docs/performance.md). repetition_penalty also stops the loops but suppresses
# paragraph breaks, so more traces are rejected as one paragraph or too short.
DEMO_ITEMS = ("arena-0a055d8b33ca49b1", "arena-0bf94d033b2f41ca", "arena-13a1f4a84ce44084", "arena-2ec88fa9f7074a3b")
LIMITS = (
    "SmolLM2-135M shows every stage working (search, scores going down, resume, filters, export), but it is no "
    "source of training data: it never closes its thinking (the demo keeps thinking cut at its token budget), it "
    "loops unless a frequency penalty stops it (the demo uses one), and even its loop-free thinking wanders off "
    "the request: it does not make the reference any more likely than empty thinking, so the no-gain check drops "
    "it. Real data needs a capable generator."
)


def demo_pairs(items: int, reference_words: int = DEMO_REFERENCE_WORDS) -> list[Pair]:
    """``DEMO_ITEMS``, then the next English creative-writing pairs; references cut to whole paragraphs."""
    english = [p for p in arena_hard_creative() if text_language(p.query) == text_language(p.reference) == "en"]
    chosen = sorted(english, key=lambda p: DEMO_ITEMS.index(p.id) if p.id in DEMO_ITEMS else len(DEMO_ITEMS))
    return [p.model_copy(update={"reference": cut_reference(p.reference, reference_words)}) for p in chosen[:items]]


def demo_config(seed: int = 0) -> ReerConfig:
    """llama.cpp generates when it is installed (5–7× faster here); transformers scores.

    Measured on the 4 demo items: llama.cpp at concurrency 1 searched them in 192 s (252 s at 4: its calls do
    not batch); transformers alone took 373 s at concurrency 1 and 177 s at 4, where the items' calls batch
    (a batch is seeded as a whole, so that path is not bit-reproducible between runs).
    """
    llama = importlib.util.find_spec("llama_cpp") is not None
    return ReerConfig(
        generator=ModelConfig(backend="llamacpp" if llama else "transformers"),
        scorer=ModelConfig(),
        search=SearchConfig(**DEMO_SEARCH),
        filters=FilterConfig(keep_truncated=True),
        seed=seed,
        concurrency=1 if llama else 4,
    )


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
