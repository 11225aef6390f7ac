"""Reverse-engineered requests: the generator writes the writing request that a reference-only text answers.

The published method did this for Project Gutenberg books, whose texts have no prompt. A request is only
kept when it is usable as one: non-empty and finished, in the text's language, and not a copy of the text
(no long verbatim run shared with it). Each text gets a few sampled attempts; a text whose attempts all
fail is dropped with the last reason.

The answer is pre-filled with the opening word of a request ("Write", "请写") and stops at the first blank
line: a request is one paragraph, and small generators otherwise drift into answering it themselves.

Each outcome is appended to a journal file as soon as it is known (flushed and synced), so an interrupted
run resumes where it stopped and never asks the generator twice for the same text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reer import prompts
from reer.backends.base import Generation, GenerationRequest, Generator, Sampling
from reer.config import ReverseQueryConfig
from reer.data.prefilter import Drop
from reer.language import text_language, units
from reer.overlap import longest_common_run
from reer.records import Pair
from reer.seeds import derive_seed

_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:request|writing request|写作请求|请求)\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*", re.IGNORECASE
)
_QUOTES = "\"'“”‘’「」"
_PREFILL = {"en": "Write", "zh": "请写"}
MIN_REQUEST_UNITS = 3  # "Write a sonnet." is about the shortest useful request
MAX_REPEATED_TRIGRAMS = 0.2  # a request that loops ("The piece is to be rewritten…" again and again)


def reverse_queries(
    pairs: Iterable[Pair],
    generator: Generator,
    config: ReverseQueryConfig,
    seed: int = 0,
    model: str = "",
    journal: Path | None = None,
    on_pair: Callable[[Pair], None] | None = None,
) -> tuple[list[Pair], list[Drop]]:
    """Each pair with a written request in ``query``, and a drop for every text no attempt worked for."""
    done = _read_journal(journal) if journal else {}
    kept, drops = [], []
    for pair in pairs:
        outcome = done.get(_key(pair))
        if outcome is None:
            outcome = _write_request(pair, generator, config, seed)
            if journal:
                _append(journal, {"key": _key(pair), "outcome": outcome})
        if isinstance(outcome, str):
            drops.append(Drop(pair.id, "reverse-query-failed", outcome))
        else:
            query, attempt = outcome
            origin = {"query_origin": "reverse-engineered", "query_model": model, "query_attempt": attempt}
            kept.append(pair.model_copy(update={"query": query, "source": pair.source | origin}))
        if on_pair:
            on_pair(pair)
    return kept, drops


def _write_request(pair: Pair, generator: Generator, config: ReverseQueryConfig, seed: int) -> tuple[str, int] | str:
    language = text_language(pair.reference)
    prompt_language = "zh" if language == "zh" else "en"
    request = GenerationRequest(
        messages=_chat(prompt_language, pair.reference[: config.max_reference_chars]),
        sampling=Sampling(
            temperature=config.temperature,
            top_p=config.top_p,
            max_new_tokens=config.max_new_tokens,
            stop=("\n\n",),
            seed=derive_seed(seed, pair.id, "reverse-query"),
        ),
        prefill=_PREFILL[prompt_language],
        n=config.attempts,
    )
    generations = generator.generate([request])[0]
    return _first_valid(generations, request.prefill, pair.reference, language, config)


def _first_valid(
    generations: list[Generation], prefill: str, reference: str, language: str, config: ReverseQueryConfig
) -> tuple[str, int] | str:
    """The first usable request and its attempt number, or why the last attempt was unusable."""
    problem: str | None = "no attempt"
    for attempt, generation in enumerate(generations, start=1):
        query = clean_request(prefill + generation.text)
        problem = request_problem(query, reference, language, config.max_copied_words)
        if generation.finish_reason == "length":
            problem = f"unfinished within {config.max_new_tokens} tokens"
        if problem is None:
            return query, attempt
    return f"{len(generations)} attempts; last: {problem}"


def clean_request(text: str) -> str:
    """The request without a leading label ("Request:") or surrounding quotes."""
    text = _LABEL.sub("", text.strip())
    if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1]
    return text.strip()


def request_problem(query: str, reference: str, language: str, max_copied_words: int) -> str | None:
    """Why ``query`` cannot serve as the request for ``reference``, or None when it can."""
    if len(units(query)) < MIN_REQUEST_UNITS:
        return f"too short ({query!r})"
    if text_language(query) != language:
        return f"request in {text_language(query)}, text in {language}"
    if repeated_trigram_share(query) > MAX_REPEATED_TRIGRAMS:
        return "repeats itself"
    copied = longest_common_run(query, reference)
    if copied >= max_copied_words:
        return f"copies {copied} words of the text verbatim"
    return None


def repeated_trigram_share(text: str) -> float:
    """Share of word trigrams that already occurred earlier in the text (0 for a text without loops)."""
    words = units(text)
    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    return 1 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0


def _key(pair: Pair) -> str:
    """A text is identified by id *and* content: an edited text gets a new request."""
    return f"{pair.id}:{hashlib.sha1(pair.reference.encode()).hexdigest()[:16]}"


def _read_journal(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    done = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a killed run may be cut short; that text is simply asked again
        outcome = entry["outcome"]
        done[entry["key"]] = tuple(outcome) if isinstance(outcome, list) else outcome
    return done


def _append(path: Path, entry: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())


def _chat(language: str, reference: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": prompts.render(language, "system")},
        {"role": "user", "content": prompts.render(language, "reverse_query", reference=reference)},
    ]
