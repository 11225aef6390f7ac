"""Evaluation results on disk: ``results.json`` (everything), ``results.md`` (tables) and PNG plots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reer.display import markdown, visible
from reer.eval.benchmarks.writingbench import DOMAINS
from reer.eval.results import BenchmarkResult, Estimate, EvalResults

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"


def write_results(out_dir: Path, results: EvalResults) -> list[Path]:
    """Write every output atomically; return the paths written."""
    written = [_atomic(out_dir / RESULTS_JSON, results.model_dump_json(indent=2))]
    written.append(_atomic(out_dir / RESULTS_MD, render_markdown(results)))
    written += write_plots(out_dir, results)
    return written


def fmt(estimate: Estimate | None, digits: int = 1) -> str:
    """``72.4 [70.1, 74.6]``, with the unscored count when there is one; ``—`` when nothing was scored."""
    if estimate is None or estimate.mean is None or estimate.ci_low is None or estimate.ci_high is None:
        unscored = estimate.unscored if estimate else 0
        return f"— ({unscored} unscored)" if unscored else "—"
    mean, low, high = (round(v, digits) for v in (estimate.mean, estimate.ci_low, estimate.ci_high))
    text = f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    return text + (f", {estimate.unscored} unscored" if estimate.unscored else "")


def summary_lines(results: EvalResults) -> list[str]:
    """One line per benchmark (headline scores and unscored verdicts), then the likelihood gain: what
    ``reer eval`` prints when it is done."""
    lines = []
    for name, summary in results.benchmarks.items():
        headline = "; ".join(f"{label} {fmt(e)}" for label, e in summary.headlines.items())
        judge = summary.judge
        lines.append(f"{name}: {headline or 'nothing scored'} ({judge.unscored} of {judge.tasks} verdicts unscored)")
    if results.likelihood:
        lines.append(f"likelihood: reference NLL gain from the model's thinking {fmt(results.likelihood.gain, 3)}")
    return lines


def render_markdown(results: EvalResults) -> str:
    lines = [f"# Evaluation of {markdown(results.model)}", ""]
    if results.smoke_test_only:
        lines += ["> **SMOKE TEST ONLY** — judged by the embedded 135M model: these scores mean nothing.", ""]
    settings = results.settings
    lines += [
        f"- judge: {markdown(results.judge)}",
        f"- answers: {markdown(settings['answers']['backend'])}, each benchmark's own sampling unless listed as a "
        f"deviation; seed {settings['seed']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in results.versions.items()),
        f"- {results.created}; mean with {results.confidence:.0%} bootstrap interval; "
        "*unscored*: the judge's verdict never parsed",
        "",
    ]
    for name, bench in results.benchmarks.items():
        lines += [f"## {name} ({bench.items} items)", ""]
        lines += protocol_lines(bench)
        if bench.headlines:
            lines += ["| " + " | ".join(bench.headlines) + " |", "|" + "---|" * len(bench.headlines)]
            lines += ["| " + " | ".join(fmt(e) for e in bench.headlines.values()) + " |", ""]
        first = next(iter(bench.metrics.values()), None)
        groups = list(first.groups) if first else []
        lines += ["| metric | overall | " + " | ".join(markdown(_group_name(name, g)) for g in groups) + " |"]
        lines += ["|---|---|" + "---|" * len(groups)]
        for metric, values in bench.metrics.items():
            cells = [fmt(values.overall), *(fmt(values.groups[g]) for g in groups)]
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        judge = bench.judge
        lines += [
            "",
            f"Judge: {judge.tasks} verdicts, {judge.unscored} unscored, {judge.retried} needed a retry "
            f"({judge.calls} calls).",
            "",
        ]
        if t := bench.thinking:
            lines += [
                f"Thinking: {t.with_thinking:.0%} of answers think; mean {t.thinking_units:.0f} thinking and "
                f"{t.answer_units:.0f} answer words; {t.reflections_per_1k:.1f} reflection phrases per 1k "
                f"thinking words; top-3 trigram share {t.top3_trigram_share:.2f}; {t.cut_off} cut off by the "
                f"token budget; {t.seconds_per_answer:.1f} s per answer.",
                "",
            ]
    if lik := results.likelihood:
        lines += [f"## Reference likelihood ({lik.pairs} held-out pairs, {markdown(lik.source)})", ""]
        lines += ["Mean negative log-likelihood per reference token (lower is better):", ""]
        lines += ["| without thinking | with the model's thinking | gain | REER score without | REER score with |"]
        lines += ["|---|---|---|---|---|"]
        columns = [lik.nll_without_thinking, lik.nll_with_thinking, lik.gain]
        columns += [lik.reer_without_thinking, lik.reer_with_thinking]
        lines += ["| " + " | ".join(fmt(e, 3) for e in columns) + " |", ""]
    return "\n".join(lines)


def protocol_lines(bench: BenchmarkResult) -> list[str]:
    """Whether the numbers are the benchmark's own metric, and every deviation when they are not."""
    record = bench.protocol
    if record is None:
        return ["Protocol: not recorded (an evaluation made before reer 0.15): not comparable.", ""]
    if record.as_published:
        head = ["**Computed as published**: the benchmark's own prompt, parsing, sampling, attempts and scores."]
    else:
        head = ["**Not comparable with published figures**; deviations from the benchmark's own protocol:"]
        head += [f"- {markdown(d)}" for d in record.deviations]
    judge, answers = record.judge_sampling, record.answer_sampling
    files = ", ".join(f"{markdown(Path(p).name)} (sha256 {digest[:12]}…)" for p, digest in record.prompt_files.items())
    return [
        *head,
        "",
        f"- judge {markdown(record.judge_model)}: {_sampling(judge)}, {record.judge_attempts} attempts; "
        f"prompt files: {files}",
        f"- answers: {_sampling(answers)}; thinking: {markdown(record.thinking)}",
        f"- items: {markdown(', '.join(f'{k} {v}' for k, v in record.sample.items()))}",
        "",
    ]


def _sampling(record: Any) -> str:
    shown = {k: v for k, v in record.model_dump().items() if v is not None}
    return ", ".join(f"{k} {v}" for k, v in shown.items())


def write_plots(out_dir: Path, results: EvalResults) -> list[Path]:
    """Per-group bars with intervals for every judged benchmark; LongBench-Write's length scatter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(TEXT_ONLY):
        return [
            path for name, bench in results.benchmarks.items() for path in _plots(plt, out_dir, name, bench, results)
        ]


TEXT_ONLY: dict[Any, Any] = {"text.parse_math": False}  # names from data are text: a `$` pair is no formula


def _plots(plt: Any, out_dir: Path, name: str, bench: BenchmarkResult, results: EvalResults) -> list[Path]:
    written = []
    metric = "S" if name == "longbench-write" else "score"
    summary = bench.metrics.get(metric)
    groups = summary.groups if summary else {}
    scored = {g: e for g, e in groups.items() if e.mean is not None}
    if scored:
        width = max(4.0, 1.2 * len(scored) + 2)
        figure, axes = plt.subplots(figsize=(width, 3.6))
        means = [e.mean or 0.0 for e in scored.values()]
        errors = [
            [m - (e.ci_low or m) for m, e in zip(means, scored.values(), strict=True)],
            [(e.ci_high or m) - m for m, e in zip(means, scored.values(), strict=True)],
        ]
        axes.bar([_group_name(name, g) for g in scored], means, yerr=errors, capsize=4, color="#4c72b0")
        axes.set_ylim(0, 100)
        axes.set_ylabel(f"{metric} (0–100)")
        smoke = " — SMOKE TEST ONLY" if results.smoke_test_only else ""
        axes.set_title(_fitted(f"{name}: {_short_model(results.model)}{smoke}", width), fontsize=10)
        axes.tick_params(axis="x", labelrotation=20)
        written.append(_save(figure, out_dir / f"{name}-groups.png"))
    if name == "longbench-write":
        written.append(_length_scatter(plt, out_dir, name, bench, results))
    return written


def _short_model(model: str) -> str:
    """A model path shown by its last two parts: the folder names that tell models apart."""
    parts = [p for p in model.replace("\\", "/").split("/") if p]
    return "/".join(parts[-2:]) if len(parts) > 2 else model


def _fitted(title: str, width_inches: float, fontsize: float = 10) -> str:
    """Wrap ``title`` to the figure's width (about 0.55 em per character)."""
    import textwrap

    per_line = max(20, int(width_inches * 72 / (fontsize * 0.55)))
    return textwrap.fill(visible(title), per_line)


def _length_scatter(plt: Any, out_dir: Path, name: str, bench: BenchmarkResult, results: EvalResults) -> Path:
    """Required vs produced length on log axes, as in the LongWriter paper; the diagonal is a perfect match."""
    figure, axes = plt.subplots(figsize=(4.8, 4.4))
    for language, colour in (("en", "#4c72b0"), ("zh", "#dd8452")):
        rows = [r for r in bench.per_item if r.language == language and r.required_length]
        if not rows:
            continue
        axes.scatter(
            [r.required_length for r in rows],
            [max(1, r.answer_units) for r in rows],
            s=14,
            c=colour,
            label=f"{language} ({'words' if language == 'en' else 'characters'})",
        )
    lengths = [r.required_length for r in bench.per_item if r.required_length] or [100.0]
    low, high = min(lengths) / 2, max(lengths) * 2
    axes.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="produced = required")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("required length")
    axes.set_ylabel("produced length")
    axes.set_title(f"{name}: length" + (" — SMOKE TEST ONLY" if results.smoke_test_only else ""), fontsize=10)
    axes.legend(fontsize=8)
    return _save(figure, out_dir / f"{name}-length.png")


def _save(figure: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    staging = path.with_name(f".{path.name}.tmp")
    figure.savefig(staging, dpi=120, format="png")
    plt.close(figure)
    os.replace(staging, path)
    return path


def _group_name(benchmark: str, group: str) -> str:
    return f"{group} {DOMAINS[group]}" if benchmark == "writingbench" and group in DOMAINS else group


def _atomic(path: Path, text: str) -> Path:
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text + "\n", encoding="utf-8")
    os.replace(staging, path)
    return path
