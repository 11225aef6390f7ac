"""The checks on one finished trajectory: REER.md §4 (end of thinking, repetition) plus ours.

Each check returns ``(reason, detail)`` when the trajectory fails it, else None. They read only the texts
of :class:`Thinking` (a small record that worker processes receive, :mod:`reer.filters.parallel`), so they can be
re-run with other thresholds at any time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from reer.config import FilterConfig
from reer.filters.repetition import describe, exceeded, repetition_measures
from reer.language import foreign_share, text_language, units
from reer.overlap import longest_common_run, ngram_overlap, top_trigram_share
from reer.records import Pair
from reer.records.trajectory import Trajectory


@dataclass(frozen=True)
class Thinking:
    """What the checks read of one trajectory (or of one row of a dataset being audited)."""

    reference: str
    trace: str
    language: str  # the request's: the thinking must be in it
    ran_out: bool = False  # generation hit its budget before </think>
    generated_tokens: int = 0  # how many tokens were generated when it did (0: not known)
    gain: float | None = None  # thinking gain in the configured measure (None: not measured)
    gain_threshold: float | None = None  # what it must exceed: the run's calibrated null (None: no check)

    @classmethod
    def of(cls, pair: Pair, t: Trajectory, gain: float | None = None, threshold: float | None = None) -> Thinking:
        ran_out = t.initial is not None and t.initial.finish_reason == "length"
        tokens = t.initial.num_tokens if t.initial else 0
        return cls(pair.reference, t.final_trace or "", t.language, ran_out, tokens, gain, threshold)


Verdict = tuple[str, str] | None
Check = Callable[[Thinking, FilterConfig], Verdict]


def truncated(t: Thinking, config: FilterConfig) -> Verdict:
    """The initial trace hit its token budget: it never reached ``</think>``."""
    if t.ran_out and not config.keep_truncated:
        budget = f" within {t.generated_tokens} generated tokens" if t.generated_tokens else ""
        return "truncated", f"no </think>{budget}: the thinking never ends"
    if re.search(r"</?think>", t.trace):
        return "truncated", "a <think> tag inside the thinking: the block is not cleanly closed"
    return None


def no_conclusion(t: Thinking, config: FilterConfig) -> Verdict:
    """The last part of the thinking still reflects instead of concluding (REER.md §4)."""
    trace = t.trace
    tail = trace[int(len(trace) * (1 - config.tail_fraction)) :]
    found = reflection_markers(tail, config.reflection_markers)
    if found >= config.tail_max_markers:
        return "no-conclusion", f"{found} reflection phrases in the last {config.tail_fraction:.0%}"
    return None


def repetition(t: Thinking, config: FilterConfig) -> Verdict:
    """The three most frequent word trigrams make up too much of all trigrams (REER.md §4)."""
    share = top_trigram_share(t.trace)
    if share > config.max_top3_trigram_share:
        return "repetition", f"top-3 trigrams are {share:.0%} of all trigrams"
    return None


def gopher_repetition(t: Thinking, config: FilterConfig) -> Verdict:
    """Loops the trigram rule misses — a sentence, a paragraph or a list line written again and again — by
    Gopher's measures (REER.md §4): every measure over its limit is named with its value."""
    failed = exceeded(repetition_measures(t.trace), config.repetition_limits)
    return ("gopher-repetition", describe(failed)) if failed else None


def too_short(t: Thinking, config: FilterConfig) -> Verdict:
    size = len(units(t.trace))
    if size < config.min_thinking_units:
        return "too-short", f"{size} words < {config.min_thinking_units}"
    return None


def leakage(t: Thinking, config: FilterConfig) -> Verdict:
    """The thinking copies the reference verbatim: training on it would teach copying, not planning."""
    trace = t.trace
    overlap = ngram_overlap(t.reference, trace, config.ngram_size)
    if overlap == 0 and config.max_copied_units >= config.ngram_size:
        return None  # not one shared n-gram: no copied run can reach n words (and the longest-run search is slow)
    run = longest_common_run(t.reference, trace)
    if run >= config.max_copied_units or overlap >= config.max_ngram_overlap:
        detail = f"longest copied run {run} words; {overlap:.0%} of the reference's {config.ngram_size}-grams"
        return "leakage", detail
    return None


def language_mismatch(t: Thinking, config: FilterConfig) -> Verdict:
    found = text_language(t.trace)
    if config.check_language and found != t.language:
        return "language-mismatch", f"thinking in {found}, request in {t.language}"
    return None


def mixed_language(t: Thinking, config: FilterConfig) -> Verdict:
    """Thinking in the request's language with sentences in another one: a known defect of public reasoning
    sets (a model that switches language mid-thought), which the main-language check cannot see. The answer's
    own language is allowed too: a request for a poem in Arabic may be planned in English with Arabic drafts."""
    if not config.check_language or config.max_foreign_share >= 1 or t.language not in ("en", "zh"):
        return None
    if text_language(t.trace) != t.language:
        return None  # written in another language altogether: language-mismatch says so
    allowed = {t.language, text_language(t.reference)} if t.reference else {t.language}
    found = {name: part for name, part in foreign_share(t.trace, t.language)[1].items() if name not in allowed}
    share = sum(found.values())
    if share > config.max_foreign_share:
        languages = ", ".join(f"{name} {part:.0%}" for name, part in sorted(found.items(), key=lambda f: -f[1]))
        return "mixed-language", f"{share:.0%} of the thinking is in other languages ({languages}), request in " + (
            t.language
        )
    return None


def no_gain(t: Thinking, config: FilterConfig) -> Verdict:
    """The thinking does not make its answer more likely than other items' thinking does: it does not explain
    this answer (filler, the request restated, a plan for another text)."""
    if not config.check_gain or t.gain is None or t.gain_threshold is None:
        return None
    if t.gain <= t.gain_threshold:
        return "no-gain", (
            f"gain {t.gain:+.3f} nats/token ({config.gain_measure}) ≤ {t.gain_threshold:.3f}, the run's null for "
            f"{t.language}"
        )
    return None


CHECKS: tuple[Check, ...] = (
    truncated,
    no_conclusion,
    repetition,
    gopher_repetition,
    too_short,
    leakage,
    language_mismatch,
    mixed_language,
    no_gain,
)


def failed_checks(t: Thinking, config: FilterConfig) -> dict[str, str]:
    """Every failed check of one trajectory: reason → detail (empty when it is kept)."""
    return dict(verdict for check in CHECKS if (verdict := check(t, config)))


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
