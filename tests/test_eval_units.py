"""Evaluation without a model: the real benchmark rows, judge prompts, S_l, score parsing, intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reer.config import JudgeConfig
from reer.errors import InputError
from reer.eval.benchmarks import BENCHMARKS, EvalItem, JudgeTask, Selection
from reer.eval.judges import judge_tasks, parse_scores
from reer.eval.metrics import bootstrap, length_score, text_length, thinking_stats
from tests.conftest import BENCHMARK_DIR, needs_eval_framework


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- LongBench-Write's length score (REER.md §5), computed by hand ------------------------------------------


@pytest.mark.parametrize(
    ("required", "produced", "expected"),
    [
        (1000, 1000, 100.0),  # on target
        (1000, 2000, 100 * (1 - 1 / 3)),  # twice too long: 1 - (2 - 1)/3
        (1000, 1300, 90.0),  # 1 - 0.3/3
        (1000, 4000, 0.0),  # 1 - 3/3
        (1000, 9000, 0.0),  # clipped at 0
        (1000, 500, 50.0),  # half: 1 - (2 - 1)/2
        (1000, 800, 100 * (1 - 0.25 / 2)),  # r/p = 1.25
        (1000, 333, 0.0),  # r/p > 3 → clipped
        (1000, 0, 0.0),  # nothing written
    ],
)
def test_length_score_matches_the_formula(required, produced, expected):
    assert length_score(required, produced) == pytest.approx(expected)


def test_length_counts_words_in_english_and_characters_in_chinese():
    assert text_length("The cat's hat, in 2024, was red.") == 7  # The cat's hat in 2024 was red
    assert text_length("春眠不觉晓，处处闻啼鸟。") == 10  # punctuation does not count
    item = EvalItem("longbench-write", "x", "写一篇文章，200字左右", "zh", "zh", {"length": 20})
    scores = BENCHMARKS["longbench-write"].item_scores(item, "春" * 10, {"quality": None})
    assert scores["S_l"] == pytest.approx(50.0)  # p = 10 characters for r = 20: 1 - (2 - 1)/2
    assert scores["S_q"] is None and scores["S"] is None  # unscored, never zero
    english = EvalItem("longbench-write", "y", "Write 4 words.", "en", "en", {"length": 4})
    verdict = dict.fromkeys(("relevance", "accuracy", "coherence", "clarity", "breadth_and_depth"), 8.0)
    scores = BENCHMARKS["longbench-write"].item_scores(
        english, "one two three four five six", {"quality": verdict | {"reading_experience": 5.0}}
    )
    assert scores["S_l"] == pytest.approx(100 * (1 - 0.5 / 3))  # p/r = 1.5
    assert scores["S_q"] == pytest.approx(75.0)  # mean 7.5 of 10
    assert scores["S"] == pytest.approx((scores["S_l"] + 75.0) / 2)


# -- the real benchmark rows -----------------------------------------------------------------------------


def test_longbench_write_rows_load_and_render_into_the_judge_prompt():
    rows = _rows(BENCHMARK_DIR / "longbench-write" / "longbench_write.jsonl")
    items = BENCHMARKS["longbench-write"].load(BENCHMARK_DIR / "longbench-write", Selection())
    assert [i.prompt for i in items] == [r["prompt"] for r in rows] and {i.language for i in items} == {"en", "zh"}
    assert all(i.data["length"] > 0 for i in items)
    first = items[0]
    (task,) = BENCHMARKS["longbench-write"].judge_tasks(first, "MY ANSWER TEXT")
    assert first.prompt in task.prompt and "MY ANSWER TEXT" in task.prompt
    assert task.keys[-1] == "reading_experience" and len(task.keys) == 6
    assert "breadth_and_depth: <score>" in task.prompt and (task.low, task.high) == (1, 10)
    english = BENCHMARKS["longbench-write"].load(BENCHMARK_DIR / "longbench-write", Selection(languages=("en",)))
    assert english == [i for i in items if i.language == "en"] and 0 < len(english) < len(items)


def test_hellobench_subsets_load_with_their_checklists():
    items = BENCHMARKS["hellobench"].load(BENCHMARK_DIR / "hellobench", Selection())
    by_subset = {g: sum(i.group == g for i in items) for g in {i.group for i in items}}
    files = sorted((BENCHMARK_DIR / "hellobench" / "main").glob("*.jsonl"))
    assert by_subset == {f.stem: len(_rows(f)) for f in files} and len(by_subset) == 4
    creative = [i for i in items if i.group == "heuristic_text_generation"]
    (task,) = BENCHMARKS["hellobench"].judge_tasks(creative[0], "ESSAY")
    assert len(task.keys) == len(creative[0].data["checklist"]) == 5
    assert all(question in task.prompt for question in creative[0].data["checklist"])
    assert "checklist_5: <score>" in task.prompt and (task.low, task.high) == (0, 1)
    chosen = BENCHMARKS["hellobench"].load(BENCHMARK_DIR / "hellobench", Selection(limit=1, groups=("chat",)))
    assert len(chosen) == 1 and {i.group for i in chosen} == {"chat"}


@needs_eval_framework
def test_writingbench_has_1000_queries_in_six_domains_with_five_criteria():
    bench = BENCHMARKS["writingbench"]
    items = bench.load(None, Selection())
    assert len(items) == 1000
    assert {i.group for i in items} == set("ABCDEF") and {i.language for i in items} == {"en", "zh"}
    assert all(len(i.data["criteria"]) == 5 for i in items)
    tasks = bench.judge_tasks(items[0], "ANSWER")
    assert [t.part for t in tasks] == [f"criterion-{n}" for n in range(1, 6)]
    criterion = items[0].data["criteria"][0]
    assert criterion["name"] in tasks[0].prompt and criterion["9-10"] in tasks[0].prompt
    assert items[0].prompt in tasks[0].prompt and "score: <score>" in tasks[0].prompt
    subset = bench.load(None, Selection(limit=5, languages=("en",), groups=("D", "F")))
    assert len(subset) == 5 and all(i.language == "en" and i.group in "DF" for i in subset)
    scores = bench.item_scores(items[0], "", {"criterion-1": {"score": 7.0}, "criterion-2": None})
    assert scores["score"] == pytest.approx(70.0)  # unscored criteria are left out, not zeroed


def test_bad_benchmark_rows_name_file_line_and_field(tmp_path):
    path = tmp_path / "lb.jsonl"
    path.write_text('{"prompt": "Write 100 words.", "length": 100}\n{"prompt": "Write.", "length": "lots"}\n')
    with pytest.raises(InputError, match=r"lb\.jsonl:2: field 'length'"):
        BENCHMARKS["longbench-write"].load(path, Selection())
    path.write_text('{"prompt": "Write 100 words."}\n')
    with pytest.raises(InputError, match=r"lb\.jsonl:1: field 'length' is missing"):
        BENCHMARKS["longbench-write"].load(path, Selection())
    wb = tmp_path / "wb.jsonl"
    wb.write_text('{"index": 1, "domain1": "Cooking", "query": "q", "checklist": "[]"}\n')
    with pytest.raises(InputError, match=r"wb\.jsonl:1: field 'domain1'"):
        BENCHMARKS["writingbench"].load(wb, Selection())
    with pytest.raises(InputError, match="needs --longbench"):
        BENCHMARKS["longbench-write"].load(None, Selection())


# -- judge verdicts ----------------------------------------------------------------------------------------

TASK = JudgeTask("quality", "…", ("relevance", "breadth_and_depth"), 1, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Good.\nrelevance: 8\nbreadth_and_depth: 6", {"relevance": 8.0, "breadth_and_depth": 6.0}),
        ("**Relevance**: 7/10\n**Breadth and depth**: 5.5", {"relevance": 7.0, "breadth_and_depth": 5.5}),
        ('{"relevance": 9, "breadth_and_depth": 3}', {"relevance": 9.0, "breadth_and_depth": 3.0}),
        (
            "relevance: 2 at first... on reflection\nrelevance: 4\nbreadth-and-depth = 4",
            {"relevance": 4.0, "breadth_and_depth": 4.0},
        ),
        ("relevance: 8", None),  # a key is missing
        ("relevance: 11\nbreadth_and_depth: 5", None),  # out of range
        ("I cannot grade this.", None),
    ],
)
def test_parse_scores(text, expected):
    assert parse_scores(text, TASK) == expected


class ScriptedJudge:
    """A judge client that replays given texts — for the retry bookkeeping only; real judges are tested in
    test_eval.py against the embedded model and a real OpenAI-compatible server."""

    def __init__(self, texts):
        self.texts = list(texts)
        self.temperatures = []

    def complete(self, tasks, temperature, seed):
        self.temperatures.append(temperature)
        return [self.texts.pop(0) for _ in tasks]


def test_unparsable_verdicts_are_retried_then_reported_unscored():
    config = JudgeConfig(retries=2, temperature=0.0, retry_temperature=0.7)
    single = JudgeTask("c", "…", ("score",), 1, 10)
    rounds = [["score: 7", "no idea", "nothing"], ["score: 99", "hm"], ["still no", "score: 4"]]
    client = ScriptedJudge([text for texts in rounds for text in texts])
    first, second, third = judge_tasks(client, [single, single, single], config, seed=0)
    assert first.scores == {"score": 7.0} and first.attempts == 1
    assert second.scores is None and second.attempts == 3  # 1 + 2 retries, then unscored
    assert third.scores == {"score": 4.0} and third.attempts == 3
    assert client.temperatures == [0.0, 0.7, 0.7]  # a greedy retry would only repeat itself


# -- statistics ----------------------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_mean_and_is_seeded():
    values = [60.0, 70.0, 80.0, 90.0, 65.0, 75.0]
    estimate = bootstrap(values, resamples=500, seed=3)
    assert estimate.mean == pytest.approx(73.333, abs=1e-3) and estimate.ci_low <= estimate.mean <= estimate.ci_high
    assert estimate.ci_low > 60 and estimate.ci_high < 90 and estimate.n == 6 and estimate.unscored == 0
    assert bootstrap(values, resamples=500, seed=3) == estimate
    flat = bootstrap([50.0, 50.0], resamples=200)
    assert (flat.mean, flat.ci_low, flat.ci_high, flat.n) == (50.0, 50.0, 50.0, 2)


def test_thinking_statistics():
    thinking = "Hmm, the user wants a poem. Wait, rhyme or not? Let me think about the sea and the sea."
    stats = thinking_stats(thinking, "A poem of eight words about the sea.", ["hmm", "wait", "let me think"])
    assert stats["thinking_units"] == 19 and stats["answer_units"] == 8
    assert stats["reflections_per_1k"] == pytest.approx(1000 * 3 / 19)
    assert 0 < stats["top3_trigram_share"] < 1
    assert thinking_stats("", "answer only", ["wait"])["reflections_per_1k"] == 0.0


def test_reference_likelihood_scores_exactly_the_reference_after_each_thinking(pair):
    from reer.eval.likelihood import score_requests

    without, with_thinking = score_requests(pair, "Plan: a keeper, a girl, a tin of coffee.")
    for request in (without, with_thinking):
        content = request.messages[-1]["content"]
        assert content[slice(*request.span)] == pair.reference and request.messages[0]["content"] == pair.query
    assert without.messages[-1]["content"].startswith("<think>\n\n</think>\n\n")
    assert with_thinking.messages[-1]["content"].startswith("<think>\nPlan: a keeper")


def test_selection_limits_per_benchmark_or_per_group():
    items = [EvalItem("b", f"{g}{n}", "p", "en" if n % 2 else "zh", g) for g in "AAB" for n in range(3)]
    assert [i.id for i in Selection(limit=2).apply(items)] == ["A0", "A1"]
    assert [i.id for i in Selection(limit=1, per_group=True).apply(items)] == ["A0", "B0"]
    assert [i.id for i in Selection(languages=("en",), groups=("B",)).apply(items)] == ["B1"]


@needs_eval_framework
def test_an_empty_selection_or_unknown_benchmark_is_an_error_before_anything_runs(tmp_path):
    from reer.config import EvalConfig
    from reer.errors import ReerError
    from reer.eval import EvalRequest, evaluate

    def request(benchmarks, selections=None):
        return EvalRequest(
            "smollm2-135m-instruct", benchmarks, tmp_path / "e", EvalConfig(), 2.0, selections=selections or {}
        )

    with pytest.raises(ReerError, match="no writingbench items match"):
        evaluate(request(["writingbench"], {"writingbench": Selection(groups=("Z",))}))
    with pytest.raises(ReerError, match="unknown benchmark.*alpacaeval.*choose from: longbench-write"):
        evaluate(request(["alpacaeval"]))
    with pytest.raises(InputError, match="--references"):
        evaluate(request(["likelihood"]))
    assert not (tmp_path / "e").exists()  # nothing was created
