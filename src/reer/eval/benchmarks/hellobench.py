"""HelloBench: long-text generation in subsets, each answer checked against its own checklist.

The judge grades every checklist item 0 / 0.25 / 0.5 / 0.75 / 1 (HelloBench's checklist-wise evaluation);
an item's score is the checklist-weighted mean, scaled to 100. HelloBench fitted per-checklist weights to
human preferences; those are not part of the published data files, so every checklist item weighs the same
here (recorded in the results). HB-B is the creative subset (``heuristic_text_generation``); HB-A is the
mean over the items of the other subsets (our reading: REER.md does not define it).
Data: ``data/main_data/`` of github.com/Quehry/HelloBench (MIT); pass that folder.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from reer.errors import InputError
from reer.eval.benchmarks.base import EvalItem, Headlines, JudgeTask, Selection, Verdicts, read_jsonl, score_lines
from reer.prompts import render_judge

SUBSETS = ("heuristic_text_generation", "chat", "open_ended_qa", "summarization", "text_completion")
CREATIVE = "heuristic_text_generation"


class HelloBench:
    name = "hellobench"
    headlines: Headlines = {
        "HB-A": ("score", tuple(s for s in SUBSETS if s != CREATIVE)),
        "HB-B": ("score", (CREATIVE,)),
        "HB": ("score", None),
    }
    source_hint = "the HelloBench data folder (data/main_data/ of github.com/Quehry/HelloBench)"

    def load(self, source: Path | None, selection: Selection) -> list[EvalItem]:
        if source is None or not source.is_dir():
            raise InputError(f"hellobench needs --hellobench DIR: {self.source_hint}")
        folder = source / "main" if (source / "main").is_dir() else source
        found = [name for name in SUBSETS if (folder / f"{name}.jsonl").is_file()]
        if not found:
            raise InputError(
                f"{folder} holds none of the HelloBench subsets ({', '.join(f'{s}.jsonl' for s in SUBSETS)})"
            )
        items = []
        for subset in found:
            path = folder / f"{subset}.jsonl"
            for number, row in read_jsonl(path, ("id", "instruction")):
                checklist = _checklist(row, f"{path}:{number}")
                data = {"checklist": checklist, "category": row.get("category", "")}
                items.append(EvalItem(self.name, str(row["id"]), row["instruction"], "en", subset, data))
        return selection.apply(items)

    def judge_tasks(self, item: EvalItem, answer: str) -> list[JudgeTask]:
        keys = tuple(f"checklist_{i}" for i in range(1, len(item.data["checklist"]) + 1))
        listed = "\n".join(f"{key}: {text}" for key, text in zip(keys, item.data["checklist"], strict=True))
        prompt = render_judge(
            "hellobench", query=item.prompt, answer=answer, checklist=listed, format=score_lines(keys, 0, 1)
        )
        return [JudgeTask("checklist", prompt, keys, 0, 1)]

    def item_scores(self, item: EvalItem, answer: str, verdicts: Verdicts) -> dict[str, float | None]:
        found = verdicts.get("checklist")
        return {"score": 100.0 * sum(found.values()) / len(found) if found else None}


def _checklist(row: dict[str, Any], where: str) -> list[str]:
    """The checklist questions: ``formatted_checklists`` (JSON) or ``checklists`` (a Python list literal)."""
    try:
        if row.get("formatted_checklists"):
            entries = json.loads(row["formatted_checklists"])
            return [str(entry["checklist_content"]) for entry in entries]
        value = row.get("checklists")
        entries = ast.literal_eval(value) if isinstance(value, str) else value
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise InputError(f"{where}: field 'formatted_checklists'/'checklists' cannot be read ({exc})") from exc
    if not entries:
        raise InputError(f"{where}: field 'checklists' is missing or empty")
    return [str(entry) for entry in entries]
