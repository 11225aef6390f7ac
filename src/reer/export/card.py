"""The dataset card (``README.md`` beside the exported file): what is in it, where it came from, how it was
filtered and found, and under which licences it may be used."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reer.config import PENALTIES_OFF
from reer.display import markdown
from reer.filters import FilterReport
from reer.filters.repetition import LABELS
from reer.language import prompt_language
from reer.records.sample import SftSample
from reer.version import __version__

_NON_COMMERCIAL = ("-nc", "non-commercial")
_NOT_FINISHED = (
    ("rejected", "rejected before the search (initial trace too short or one paragraph)"),
    ("failed", "failed (see `reer status`)"),
    ("pending", "not searched yet"),
    ("running", "not searched yet (interrupted)"),
)
_KEPT_TRUNCATED = (
    "\n\n**Truncated thinking kept** (`keep_truncated`): thinking that ran out of tokens before `</think>` was not "
    "dropped, so some samples' thinking ends mid-thought. REER.md §4 drops such traces; `reer demo` keeps them "
    "because its 135M generator never closes its thinking."
)


@dataclass
class CardFacts:
    fmt: str
    file: str
    samples: list[SftSample]
    mixed: list[SftSample]
    initial_scores: list[float]
    final_scores: list[float]
    search_config: dict[str, Any]
    filters: FilterReport | None
    filter_config: dict[str, Any] | None
    mix_source: str | None = None
    mix_ratio: float | None = None
    template_checked: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)  # trajectories of the run per status
    quality: dict[str, Any] = field(default_factory=dict)  # filters.quality summary of the REER samples' thinking
    notes: list[str] = field(default_factory=list)


def render_card(facts: CardFacts) -> str:
    sections = [
        _front_matter(facts),
        "# REER writing trajectories\n\n"
        "Triples of (writing request, thinking, answer): the thinking was found by REER's search for the "
        "trace that makes the reference answer most likely (lower score is better), and the answer is the "
        f"reference. Made with reer {__version__} (REER: reverse-engineered reasoning).",
        _counts(facts),
        _sources(facts),
        _filters(facts),
        quality_section(facts.quality),
        _scores(facts),
        _settings(facts),
        _usage(facts),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _licences(samples: list[SftSample]) -> Counter[str]:
    return Counter(s.source.get("licence", "unknown") for s in samples)


def _front_matter(facts: CardFacts) -> str:
    licences = _licences(facts.samples + facts.mixed)
    languages = sorted({prompt_language(s.prompt) for s in facts.samples})
    # The Hub wants one licence id; anything else is "other", with the details in the table below.
    only = next(iter(licences)) if len(licences) == 1 else "other"
    licence = only if only.replace("-", "").replace(".", "").isalnum() else "other"
    lines = ["---", f"license: {licence}"]
    if languages:  # an empty `language:` key would read as null
        lines += ["language:", *[f"- {lang}" for lang in languages]]
    lines += ["tags:", "- reasoning", "- creative-writing", "- reer", "task_categories:", "- text-generation", "---"]
    return "\n".join(lines)


def _counts(facts: CardFacts) -> str:
    rows = [("REER samples", len(facts.samples))]
    if facts.filters:
        rows = [("finished trajectories", facts.filters.finished), ("dropped by filters", facts.filters.dropped)] + rows
    unfinished = [(label, facts.statuses[status]) for status, label in _NOT_FINISHED if facts.statuses.get(status)]
    if unfinished:
        rows = [("trajectories in the run", sum(facts.statuses.values())), *unfinished, *rows]
    if facts.mixed:
        rows.append((f"mixed in from {facts.mix_source} (ratio {facts.mix_ratio})", len(facts.mixed)))
    rows.append((f"rows in {facts.file}", len(facts.samples) + len(facts.mixed)))
    return "## Contents\n\n" + _table(("", "count"), rows) + f"\n\nFormat: `{facts.fmt}`."


def _sources(facts: CardFacts) -> str:
    by_dataset = Counter(
        (s.source.get("dataset", "unknown"), s.source.get("licence", "unknown")) for s in facts.samples + facts.mixed
    )
    rows = [(dataset, licence, n) for (dataset, licence), n in by_dataset.most_common()]
    if not rows:
        return "## Sources and licences\n\nNo samples: every trajectory was rejected or dropped by the filters."
    text = "## Sources and licences\n\n" + _table(("dataset", "licence", "samples"), rows)
    if any(marker in lic.lower() for lic in _licences(facts.samples + facts.mixed) for marker in _NON_COMMERCIAL):
        text += (
            "\n\n**Non-commercial data inside**: some samples come from sources licensed for non-commercial use only."
        )
    reversed_queries = sum(s.source.get("query_origin") == "reverse-engineered" for s in facts.samples)
    if reversed_queries:
        text += f"\n\n{reversed_queries} requests were reverse-engineered from their texts by a language model."
    return text


def _filters(facts: CardFacts) -> str:
    if not facts.filters:
        return "## Filters\n\nNone were applied (`--no-filter`)."
    rows = [(reason, n) for reason, n in sorted(facts.filters.reasons.items())]
    settings = _json(facts.filter_config)
    kept = (facts.filter_config or {}).get("keep_truncated")
    measures = [(LABELS[name], n) for name, n in facts.filters.measures.most_common()]
    by_measure = (
        "\n\n`gopher-repetition` drops by measure over its limit (Rae et al. 2021, Table A1):\n\n"
        + _table(("measure", "dropped"), measures)
        if measures
        else ""
    )
    return (
        "## Filters\n\nA trajectory can fail several checks; each failure is counted.\n\n"
        + _table(("reason", "dropped"), rows)
        + by_measure
        + (_KEPT_TRUNCATED if kept else "")
        + f"\n\nSettings: `{settings}`"
    )


def quality_section(quality: dict[str, Any], heading: str = "## Quality of the thinking") -> str:
    """The thinking's length, variety, repetition, languages and near-duplicates (``filters.quality``)."""
    if not quality.get("samples"):
        return ""
    spread = ("mean", "p10", "median", "p90", "max")
    rows = [("length (words; characters in Chinese)", *_numbers(quality["thinking_units"], spread, "{:.0f}"))]
    rows += [(f"{name} (distinct n-grams / all)", *_numbers(v, spread)) for name, v in quality["distinct"].items()]
    text = f"{heading}\n\n" + _table(("", *spread), rows)
    measures = [
        (LABELS[name], *_numbers(m, ("median", "p90", "max")), f"{m['limit']:.2f}", m["over"])
        for name, m in quality["repetition"].items()
    ]
    text += (
        "\n\nRepetition, Gopher's measures (Rae et al. 2021, Table A1; units are words, characters in Chinese):\n\n"
        + _table(("measure", "median", "p90", "max", "limit", "over the limit"), measures)
    )
    languages = ", ".join(f"{language} {n}" for language, n in quality["languages"].items())
    near = quality["near_duplicates"]
    text += f"\n\nLanguages of the thinking: {languages}."
    text += (
        f"\n\nNear-duplicate thinking (estimated Jaccard ≥ {near['threshold']} to an earlier sample): "
        f"{near['count']} of {quality['samples']} ({near['share']:.1%})."
    )
    return text


def _numbers(values: dict[str, float] | None, keys: tuple[str, ...], form: str = "{:.3f}") -> list[str]:
    return [form.format(values[k]) for k in keys] if values else [""] * len(keys)


def _scores(facts: CardFacts) -> str:
    if not facts.final_scores:
        return ""
    rows = [("initial", *_summary(facts.initial_scores)), ("final", *_summary(facts.final_scores))]
    text = "## Score distribution\n\nScore of the reference given the thinking (clipped mean negative log-prob).\n\n"
    text += _table(("trace", "mean", "p10", "median", "p90"), rows)
    bins = Counter(min(int(score / 0.25), 7) for score in facts.final_scores)
    histogram = [
        (f"{b * 0.25:.2f}–{(b + 1) * 0.25:.2f}" if b < 7 else "≥ 1.75", "█" * n, n) for b, n in sorted(bins.items())
    ]
    return text + "\n\nFinal scores:\n\n" + _table(("score", "", "samples"), histogram)


def _summary(scores: list[float]) -> tuple[str, ...]:
    if len(scores) < 2:
        return (f"{scores[0]:.4f}",) * 4 if scores else ("",) * 4
    deciles = statistics.quantiles(scores, n=10)
    return tuple(f"{v:.4f}" for v in (statistics.fmean(scores), deciles[0], statistics.median(scores), deciles[-1]))


def _settings(facts: CardFacts) -> str:
    text = "## How the thinking was found\n\n```json\n" + _json(facts.search_config, indent=2)
    text += "\n```"
    search = facts.search_config.get("search") or {}  # the run's whole configuration: the search section
    penalties = {k: v for k, v in search.items() if k in PENALTIES_OFF and v != PENALTIES_OFF[k]}
    if penalties:
        text += (
            "\n\n**Loop control at generation**: "
            + ", ".join(f"`{k}` {v}" for k, v in penalties.items())
            + ". The published method samples without penalties."
        )
    if facts.template_checked:
        text += (
            f"\n\nEvery row was rendered with the chat template of {markdown(facts.template_checked)}; the thinking "
            "survived."
        )
    return text + "".join(f"\n\n{markdown(note)}" for note in facts.notes)


def _usage(facts: CardFacts) -> str:
    if facts.fmt == "verl":
        hint = "verl SFT: `data.prompt_key=question data.response_key=answer`, or multi-turn with `messages`."
    else:
        hint = f'`datasets.load_dataset("json", data_files="{facts.file}")`; then `reer train` or any SFT trainer.'
    return "## Loading\n\n" + hint


def _json(value: Any, indent: int | None = None) -> str:
    """JSON for a code span or block: a backtick from data is written as its JSON escape, so it cannot close
    the code and turn the rest into Markdown."""
    return json.dumps(value, indent=indent, ensure_ascii=False).replace("`", "\\u0060")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
