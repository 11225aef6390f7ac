"""Fixed, real workloads for the benchmarks: Arena-Hard pairs and real text as thinking."""

from __future__ import annotations

from reer import prompts
from reer.backends.base import GenerationRequest, Sampling, ScoreRequest
from reer.data.sources import arena_hard_creative, cut_reference
from reer.language import text_language
from reer.search.scoring import score_request
from reer.search.text import join_segments


def english_pairs(count: int, reference_words: int):
    pairs = [p for p in arena_hard_creative() if text_language(p.query) == text_language(p.reference) == "en"]
    return [p.model_copy(update={"reference": cut_reference(p.reference, reference_words)}) for p in pairs[:count]]


def thinking_paragraphs(count: int) -> list[str]:
    """Real prose paragraphs (from other answers) standing in for a thinking trace."""
    paragraphs = []
    for pair in english_pairs(40, 10_000)[10:]:
        paragraphs += [p.strip() for p in pair.reference.split("\n\n") if len(p.strip()) > 250]
    return paragraphs[:count]


def scoring_step(candidates: int = 2, segments: int = 8, edited: int = 4) -> list[ScoreRequest]:
    """One REER step's scoring: ``candidates`` rewrites of the middle segment of a ~1,500-token string."""
    pair = english_pairs(1, 330)[0]
    paragraphs = thinking_paragraphs(segments + candidates)
    trace, rewrites = paragraphs[:segments], paragraphs[segments:]
    return [
        score_request("en", pair.query, join_segments([*trace[:edited], r, *trace[edited + 1 :]]), pair.reference)
        for r in rewrites
    ]


def generation_step(max_new_tokens: int = 128, n: int = 2, stop: tuple[str, ...] = ()) -> GenerationRequest:
    """One REER step's refinement request (real pair, real text as thinking)."""
    pair = english_pairs(1, 330)[0]
    trace = thinking_paragraphs(6)
    messages = [
        {"role": "system", "content": prompts.render("en", "system")},
        {
            "role": "user",
            "content": prompts.render(
                "en",
                "refine",
                query=pair.query,
                reference=pair.reference,
                before=join_segments(trace[:2]),
                segment=trace[2],
                after=join_segments(trace[3:]),
            ),
        },
    ]
    return GenerationRequest(
        messages=messages,
        n=n,
        prefill=prompts.render("en", "refine_leadin") + "\n<analyze>\n",
        sampling=Sampling(0.8, 0.85, max_new_tokens, stop=stop, seed=1),
    )
