"""The checks on one finished trajectory: REER.md §4 (end of thinking, repetition) plus ours.

Each check returns ``(reason, detail)`` when the trajectory fails it, else None. They read only text, so
they run in milliseconds and can be re-run with other thresholds at any time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from reer.config import FilterConfig
from reer.filters.repetition import describe, exceeded, repetition_measures
from reer.language import text_language, units
from reer.overlap import longest_common_run, ngram_overlap, top_trigram_share
from reer.records import Pair
from reer.records.trajectory import Trajectory

Verdict = tuple[str, str] | None
Check = Callable[[Pair, Trajectory, FilterConfig], Verdict]


def truncated(pair: Pair, t: Trajectory, config: FilterConfig) -> Verdict:
    """The initial trace hit its token budget: it never reached ``</think>``."""
    if t.initial is not None and t.initial.finish_reason == "length" and not config.keep_truncated:
        budget = f" within {t.initial.num_tokens} generated tokens" if t.initial.num_tokens else ""
        return "truncated", f"no </think>{budget}: the thinking never ends"
    if re.search(r"</?think>", t.final_trace or ""):
        return "truncated", "a <think> tag inside the thinking: the block is not cleanly closed"
    return None


def no_conclusion(pair: Pair, t: Trajectory, config: FilterConfig) -> Verdict:
    """The last part of the thinking still reflects instead of concluding (REER.md §4)."""
    trace = t.final_trace or ""
    tail = trace[int(len(trace) * (1 - config.tail_fraction)) :]
    found = reflection_markers(tail, config.reflection_markers)
    if found >= config.tail_max_markers:
        return "no-conclusion", f"{found} reflection phrases in the last {config.tail_fraction:.0%}"
    return None


def repetition(pair: Pair, t: Trajectory, config: FilterConfig) -> Verdict:
    """The three most frequent word trigrams make up too much of all trigrams (REER.md §4)."""
    share = top_trigram_share(t.final_trace or "")
    if share > config.max_top3_trigram_share:
        return "repetition", f"top-3 trigrams are {share:.0%} of all trigrams"
    return None


def gopher_repetition(pair: Pair, t: Trajectory, config: FilterConfig) -> Verdict:
    """Loops the trigram rule misses — a sentence, a paragraph or a list line written again and again — by
    Gopher's measures (REER.md §4): every measure over its limit is named with its value."""
    failed = exceeded(repetition_measures(t.final_trace or ""), config.repetition_limits)
    return ("gopher-repetition", describe(failed)) if failed else None


def too_short(pair: Pair, t: Trajectory, config: FilterConfig) -> Verdict:
    size = len(units(t.final_trace or ""))
    if size < config.min_thinking_units:
        return "too-short", f"{size} words < {config.min_thinking_units}"
    return None


def leakage(pair: Pair, t: Trajectory, config: FilterConfig) -> Verdict:
    """The thinking copies the reference verbatim: training on it would teach copying, not planning."""
    trace = t.final_trace or ""
    run = longest_common_run(pair.reference, trace)
    overlap = ngram_overlap(pair.reference, trace, config.ngram_size)
    if run >= config.max_copied_units or overlap >= config.max_ngram_overlap:
        detail = f"longest copied run {run} words; {overlap:.0%} of the reference's {config.ngram_size}-grams"
        return "leakage", detail
    return None


def language_mismatch(pair: Pair, t: Trajectory, config: FilterConfig) -> Verdict:
    found = text_language(t.final_trace or "")
    if config.check_language and found != t.language:
        return "language-mismatch", f"thinking in {found}, request in {t.language}"
    return None


CHECKS: tuple[Check, ...] = (
    truncated,
    no_conclusion,
    repetition,
    gopher_repetition,
    too_short,
    leakage,
    language_mismatch,
)


def failed_checks(pair: Pair, t: Trajectory, config: FilterConfig) -> dict[str, str]:
    """Every failed check of one trajectory: reason → detail (empty when it is kept)."""
    return dict(verdict for check in CHECKS if (verdict := check(pair, t, config)))


def reflection_markers(text: str, markers: list[str]) -> int:
    """Occurrences of reflection phrases; "but wait" counts once, not also as "wait"."""
    return len(_marker_pattern(tuple(markers)).findall(text)) if markers else 0


def strip_reflection_markers(text: str, markers: list[str]) -> str:
    """The text without its reflection phrases (and the comma or dash after them): the REER.md §5 ablation."""
    if not markers:
        return text
    pattern = _marker_pattern(tuple(markers))
    stripped = re.sub(rf"(?:{pattern.pattern})[ \t]*[,，:：—-]?[ \t]*", "", text, flags=re.IGNORECASE)
    # "Hmm, wait. So…" → "So…": capitalise what now starts a sentence, tidy the spaces left behind.
    stripped = re.sub(r"(^|[.!?]\s+|\n\s*)([a-z])", lambda m: m.group(1) + m.group(2).upper(), stripped)
    return re.sub(r"[ \t]{2,}", " ", stripped).strip()


@cache
def _marker_pattern(markers: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True))
    # Latin markers must stand alone ("wait" not in "awaits"); CJK markers have no word boundaries.
    return re.compile(rf"(?<![A-Za-z])(?:{alternatives})(?![A-Za-z])", re.IGNORECASE)
