"""Names from data in what reer writes for people: evaluation Markdown and plots."""

from reer.eval.report import render_markdown, write_results
from reer.eval.results import BenchmarkResult, Estimate, EvalResults, JudgeCounts, MetricSummary

HOSTILE = "$x$ and $y$ | evil | [link](javascript:alert(1)) <img src=x onerror=alert(1)>"


def results() -> EvalResults:
    scored = Estimate(mean=61.0, ci_low=55.0, ci_high=67.0, n=4)
    bench = BenchmarkResult(
        items=4,
        headlines={"HB-B": scored},
        metrics={"score": MetricSummary(overall=scored, groups={HOSTILE: scored, "chat": scored})},
        judge=JudgeCounts(tasks=4, unscored=0, retried=0, calls=4),
        per_item=[],
    )
    settings = {"answers": {"backend": HOSTILE, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 64}}
    return EvalResults(
        created="2026-11-30T00:00:00Z",
        model=HOSTILE,
        judge=HOSTILE,
        smoke_test_only=False,
        confidence=0.95,
        settings=settings | {"judge_prompts": "abc", "seed": 0},
        versions={"reer": "test"},
        benchmarks={"hellobench": bench},
    )


def test_names_from_data_are_text_in_the_markdown_and_the_plots(tmp_path):
    markdown = render_markdown(results())
    assert "| evil |" not in markdown and "[link](javascript:" not in markdown and "<img" not in markdown
    assert r"\$x\$" in markdown and r"\| evil \|" in markdown and "&lt;img" in markdown
    written = write_results(tmp_path, results())  # two `$` in a name once crashed matplotlib's math parser
    plots = [path for path in written if path.suffix == ".png"]
    assert plots and all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in plots)
