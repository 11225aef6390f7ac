"""LongBench-Write (LongWriter paper): 120 requests with a required length, English and Chinese.

Score per item: the length score ``S_l`` (REER.md §5), the judge's quality score ``S_q`` (six dimensions,
1–10, scaled to 100) and their mean ``S``, which is the number LongWriter and DeepWriter report as LB.
Data: ``evaluation/longbench_write.jsonl`` of github.com/THUDM/LongWriter (Apache-2.0); pass its path.
"""

from __future__ import annotations

from pathlib import Path

from reer.errors import InputError
from reer.eval.benchmarks.base import EvalItem, Headlines, JudgeTask, Selection, Verdicts, read_jsonl, score_lines
from reer.eval.metrics import length_score, text_length
from reer.language import text_language
from reer.prompts import render_judge

DIMENSIONS = ("relevance", "accuracy", "coherence", "clarity", "breadth_and_depth", "reading_experience")
FILE = "longbench_write.jsonl"


class LongBenchWrite:
    name = "longbench-write"
    headlines: Headlines = {"LB": ("S", None)}
    source_hint = f"the LongBench-Write file ({FILE} from github.com/THUDM/LongWriter, folder evaluation/)"

    def load(self, source: Path | None, selection: Selection) -> list[EvalItem]:
        if source is None:
            raise InputError(f"longbench-write needs --longbench PATH: {self.source_hint}")
        path = source / FILE if source.is_dir() else source
        items = []
        for number, row in read_jsonl(path, ("prompt", "length")):
            try:
                length = int(row["length"])
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"{path}:{number}: field 'length' must be a whole number, got {row['length']!r}"
                ) from exc
            language = "zh" if text_language(row["prompt"]) == "zh" else "en"
            data = {"length": length, "type": row.get("type", "")}
            items.append(EvalItem(self.name, f"lb-{number:03d}", row["prompt"], language, language, data))
        return selection.apply(items)

    def judge_tasks(self, item: EvalItem, answer: str) -> list[JudgeTask]:
        prompt = render_judge(
            "longbench_write", query=item.prompt, answer=answer, format=score_lines(DIMENSIONS, 1, 10)
        )
        return [JudgeTask("quality", prompt, DIMENSIONS, 1, 10)]

    def item_scores(self, item: EvalItem, answer: str, verdicts: Verdicts) -> dict[str, float | None]:
        s_l = length_score(item.data["length"], text_length(answer))
        quality = verdicts.get("quality")
        s_q = 10.0 * sum(quality.values()) / len(quality) if quality else None
        return {"S": (s_l + s_q) / 2 if s_q is not None else None, "S_l": s_l, "S_q": s_q}
