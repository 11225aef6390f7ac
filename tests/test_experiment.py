"""`reer experiment` at toy scale on the CPU: the six REER.md §5 arms, trained and evaluated end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from reer.config import FilterConfig
from reer.export.dataset import finished_trajectories
from reer.filters.checks import reflection_markers
from reer.records.formats import WRITERS, read_samples
from reer.records.sample import SftSample
from tests.browser import canvas_ink, open_report, shoot
from tests.conftest import BENCHMARK_DIR, needs_eval_framework, needs_llama, needs_train


@needs_eval_framework
@needs_llama
@needs_train
def test_ablation_arms_run_end_to_end_and_resume(demo_run, tmp_path, page):
    run_dir = demo_run[0] / "run"
    finished = finished_trajectories(run_dir, None)
    assert len(finished) >= 2, demo_run[1].stderr
    mix = tmp_path / "reasoning.jsonl"
    public = [
        SftSample(f"math-{n}", f"What is {n} + {n}?", f"{n} plus {n} is {2 * n}.", str(2 * n)) for n in range(1, 7)
    ]
    mix.write_text("".join(json.dumps(WRITERS["messages-inline"](s)) + "\n" for s in public))
    config = {
        "run": str(run_dir),
        "mix": "reasoning.jsonl",  # relative to the YAML file
        "filter": False,  # the 135M model's traces rarely pass the filters; every finished one is used
        # Some demo requests alone exceed max_length (TRL skips those); one short mixed-in sample per REER
        # sample keeps every arm trainable at this toy length.
        "preset": "cpu-smoke",
        "settings": {
            "train": {"max_steps": 1, "global_batch_size": 1, "max_length": 256, "mix_ratio": 1.0},
            "eval": {
                "max_new_tokens": 16, "batch_size": 4, "bootstrap": 200,
                "judge": {"local": {"backend": "llamacpp"}, "max_tokens": 6, "attempts": 2},
            },
        },
        # One WritingBench domain: the official judge prompts are long, and the embedded judge reads each one.
        "benchmarks": {"hellobench": str(BENCHMARK_DIR / "hellobench"), "domains": ["D"], "lang": "en", "limit": 1},
    }  # fmt: skip
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "reer", "experiment", str(path), "-o", str(out)]
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr

    table = json.loads((out / "ablation.json").read_text())
    arms = table["arms"]
    assert list(arms) == ["full", "no-reer", "initial-traces", "no-reflection", "fewer-long", "fewer-short"]
    for arm, row in arms.items():
        assert (out / "arms" / arm / "model" / "final" / "adapter_config.json").exists()
        results = json.loads((out / "arms" / arm / "eval" / "results.json").read_text())
        assert results["model"] == row["model"] and results["smoke_test_only"]
        wb = results["benchmarks"]["writingbench"]
        assert {r["group"] for r in wb["per_item"]} == {"D"} and wb["items"] == 1
        assert results["benchmarks"]["hellobench"]["items"] == 1
    markdown = (out / "ablation.md").read_text()
    assert "SMOKE TEST ONLY" in markdown and "| full |" in markdown
    # Judged by the embedded model with toy budgets: not the benchmarks' protocol, so no published column.
    assert "87.5" not in markdown and "57.7" not in markdown and "published figures are not shown" in markdown
    assert not any(row["as_published"] for row in arms.values())

    def samples(arm: str) -> list[SftSample]:
        return read_samples(out / "arms" / arm / "train.jsonl")

    def reer_part(arm: str) -> list[SftSample]:
        return [s for s in samples(arm) if not s.id.startswith("mix-")]

    n = len(finished)
    assert len(reer_part("full")) == n and len(samples("full")) == 2 * n
    assert samples("no-reer") and all(s.id.startswith("mix-") for s in samples("no-reer"))
    initial = {pair.id: t.initial.trace.strip() for pair, t in finished}
    assert {s.id: s.thinking for s in reer_part("initial-traces")} == initial
    markers = FilterConfig().reflection_markers
    assert all(reflection_markers(s.thinking, markers) == 0 for s in reer_part("no-reflection"))
    assert len(reer_part("fewer-long")) < n and len(reer_part("fewer-short")) <= n

    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("reusing") == 6 and "training on" not in again.stdout
    assert json.loads((out / "ablation.json").read_text())["arms"]["full"]["headlines"] == arms["full"]["headlines"]

    # The comparison in the report: one row per arm (no published figures beside a smoke test), each arm's evaluation.
    open_report(page, run_dir, tmp_path / "report.html", "--experiment", str(out))
    page.click("#contents a:text-is('experiment: out')")
    page.wait_for_selector("#experiment")
    rows = page.locator("table.ablation tbody tr")
    assert rows.count() == 6 and "87.5" not in page.inner_text("table.ablation")
    assert "published figures are not shown" in page.inner_text("#experiment .sub")
    assert [n > 500 for n in canvas_ink(page, "#experiment")] == [True]
    shoot(page, "report-experiment.png")
    page.click("table.ablation a:text-is('fewer-long')")
    page.wait_for_selector("#eval")
    assert page.inner_text("h1") == "Evaluation arm: fewer-long"
    assert page.locator(".answer").count() == 2  # 1 HelloBench + 1 WritingBench item
    assert page.problems == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hmm, the user wants a poem. But wait, rhyme or not?", "The user wants a poem. Rhyme or not?"),
        ("So the plan holds. Let me think — the ending is weak.", "So the plan holds. The ending is weak."),
        ("It awaits the reader; nothing to remove.", "It awaits the reader; nothing to remove."),
        ("嗯，好的。等等，结尾要改。", "好的。结尾要改。"),
    ],
)
def test_reflection_markers_are_removed_for_the_no_reflection_arm(text, expected):
    from reer.filters.checks import strip_reflection_markers

    assert strip_reflection_markers(text, FilterConfig().reflection_markers) == expected


@needs_eval_framework
@needs_llama
@needs_train
def test_an_experiment_can_synthesize_its_own_run(tmp_path):
    """`pairs:` instead of `run:`: the search runs first (tiny settings), then the arm trains and is evaluated."""
    from reer.demo import demo_pairs
    from reer.records.pair import write_pairs

    write_pairs(demo_pairs(1, reference_words=80), tmp_path / "pairs.jsonl")
    config = {
        "pairs": "pairs.jsonl",
        "arms": ["full"],
        "filter": False,
        "preset": "cpu-smoke",
        "settings": {
            "search": {"max_steps": 0, "max_new_tokens_initial": 96, "min_initial_tokens": 8},
            "train": {"max_steps": 1, "global_batch_size": 1, "max_length": 384},
            "eval": {
                "max_new_tokens": 8,
                "bootstrap": 200,
                "judge": {"local": {"backend": "llamacpp"}, "max_tokens": 4, "attempts": 2},
            },
        },
        "benchmarks": {"names": ["writingbench"], "domains": ["D"], "lang": "en", "limit": 1},
    }
    (tmp_path / "ablation.yaml").write_text(yaml.safe_dump(config))
    from reer.experiment import load_experiment, run_experiment

    lines: list[str] = []
    table = run_experiment(load_experiment(tmp_path / "ablation.yaml"), tmp_path / "out", report=lines.append)
    assert table.run == str(tmp_path / "out" / "run") and any("synthesizing 1 pairs" in line for line in lines)
    assert finished_trajectories(tmp_path / "out" / "run", None)
    assert list(table.arms) == ["full"] and table.arms["full"].samples == 1
    assert (tmp_path / "out" / "arms" / "full" / "eval" / "results.json").exists()


def test_experiment_config_errors_name_the_file(tmp_path):
    from reer.errors import ConfigError
    from reer.experiment import load_experiment

    path = tmp_path / "bad.yaml"
    path.write_text("arms: [full, everything]\nrun: r\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid experiment — arms\.1"):
        load_experiment(path)
    path.write_text("arms: [full]\n")
    with pytest.raises(ConfigError, match="exactly one of run:"):
        load_experiment(path)


def test_the_published_column_stands_only_beside_arms_computed_as_published():
    from reer.eval.results import Estimate
    from reer.experiment import Ablation, ArmResult, render_table

    def arm(comparable: bool) -> ArmResult:
        headlines = {"HB-B": Estimate(mean=80.0, ci_low=79.0, ci_high=81.0, n=123)}
        return ArmResult(samples=10, model="m", headlines=headlines, smoke_test_only=False, as_published=comparable)

    shown = render_table(Ablation(run="r", arms={"full": arm(True), "no-reer": arm(True)}))
    assert "| HB-B ours | HB-B published |" in shown and "| 87.5 |" in shown and "| 73.7 |" in shown
    hidden = render_table(Ablation(run="r", arms={"full": arm(True), "no-reer": arm(False)}))
    assert "published figures are not shown" in hidden and "87.5" not in hidden and "80.0 [79.0, 81.0]" in hidden
