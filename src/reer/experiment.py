"""``reer experiment ablation.yaml``: the ablation arms of REER.md §5, end to end, in one comparison table.

Each arm turns the same REER run into different training data, fine-tunes the same base model on it, and
evaluates the result on the same benchmarks with the same judge:

* ``full`` — the searched (final) thinking of every trajectory that passes the filters;
* ``no-reer`` — no REER data: only the mixed-in public samples (the base model itself when there is no mix);
* ``initial-traces`` — the same items with their initial thinking, before any search step;
* ``no-reflection`` — the searched thinking with its reflection phrases ("wait", "hmm", …) removed;
* ``fewer-long`` / ``fewer-short`` — a share (``downsample``) of the traces longer / shorter than the median dropped.

Every stage resumes: a finished synthesis, training or evaluation is reused; a killed one continues.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from reer.config import ReerConfig, StrictModel, apply_preset
from reer.display import markdown
from reer.errors import ConfigError, InputError
from reer.eval import EvalRequest, evaluate, write_results
from reer.eval.report import fmt
from reer.eval.results import Estimate
from reer.export.dataset import finished_trajectories, trajectory_sample, with_mix
from reer.filters.checks import strip_reflection_markers
from reer.language import units
from reer.records.formats import WRITERS
from reer.records.pair import load_pairs
from reer.records.sample import SftSample

Arm = Literal["full", "no-reer", "initial-traces", "no-reflection", "fewer-long", "fewer-short"]
ARMS: tuple[Arm, ...] = ("full", "no-reer", "initial-traces", "no-reflection", "fewer-long", "fewer-short")
# REER.md §5, HB-B / WB-A / WB-D of DeepWriter-8B's ablations.
PUBLISHED: dict[str, dict[str, float]] = {
    "full": {"HB-B": 87.5, "WB-A": 72.2, "WB-D": 70.6},
    "no-reer": {"HB-B": 73.7, "WB-A": 63.4, "WB-D": 57.7},
    "initial-traces": {"HB-B": 84.4, "WB-A": 66.7, "WB-D": 65.6},
    "no-reflection": {"HB-B": 82.8, "WB-A": 71.6, "WB-D": 62.0},
    "fewer-long": {"HB-B": 84.0, "WB-A": 69.6, "WB-D": 67.5},
    "fewer-short": {"HB-B": 82.1, "WB-A": 70.8, "WB-D": 66.9},
}
COLUMNS = ("HB-B", "WB-A", "WB-D")
Report = Callable[[str], None]


class BenchmarkChoice(StrictModel):
    names: list[str] = Field(default_factory=lambda: ["hellobench", "writingbench"])
    longbench: Path | None = None
    hellobench: Path | None = None
    writingbench: Path | None = None
    references: Path | None = Field(None, description="Held-out pairs for the reference likelihood.")
    domains: list[str] = Field(default_factory=lambda: ["A", "D"], description="WritingBench domains (REER.md: A, D).")
    subsets: list[str] = Field(
        default_factory=lambda: ["heuristic_text_generation"], description="HelloBench subsets (HB-B: creative)."
    )
    lang: Literal["en", "zh"] | None = None
    limit: int | None = Field(
        None, ge=1, description="Items per domain / subset (toy scales for trying the harness); None: all."
    )


class ExperimentConfig(StrictModel):
    run: Path | None = Field(None, description="A finished REER run to reuse.")
    pairs: Path | None = Field(None, description="Or: pairs to synthesize first, with `settings`' generator/search.")
    mix: Path | None = Field(None, description="Public samples mixed into every arm (REER.md: ~17K reasoning).")
    filter: bool = Field(True, description="Apply `settings.filters` to the run first (off: every finished trace).")
    arms: list[Arm] = Field(default_factory=lambda: list(ARMS))
    downsample: float = Field(0.5, gt=0, le=1, description="Share of long (or short) traces dropped in those arms.")
    preset: str | None = Field(None, description="A training preset (paper, deepwriter, cpu-smoke).")
    settings: ReerConfig = Field(default_factory=ReerConfig, description="Any reer config sections.")
    benchmarks: BenchmarkChoice = Field(default_factory=BenchmarkChoice)


def load_experiment(path: Path) -> ExperimentConfig:
    """Read the YAML; relative paths in it are relative to the file's folder."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        config = ExperimentConfig.model_validate(data)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: invalid experiment — {problems}") from exc
    if (config.run is None) == (config.pairs is None):
        raise ConfigError(f"{path}: give exactly one of run: (reuse a run) or pairs: (synthesize one)")
    base = path.parent
    for holder, name in [(config, n) for n in ("run", "pairs", "mix")] + [
        (config.benchmarks, n) for n in ("longbench", "hellobench", "writingbench", "references")
    ]:
        value = getattr(holder, name)
        if value is not None and not value.is_absolute():
            setattr(holder, name, base / value)
    return config


class ArmResult(BaseModel):
    samples: int
    model: str
    headlines: dict[str, Estimate]
    smoke_test_only: bool
    likelihood_gain: Estimate | None = None
    as_published: bool = Field(False, description="Every benchmark computed with its own protocol, no deviation.")


class Ablation(BaseModel):
    """What ``ablation.json`` holds: every arm's headlines beside the published figures."""

    run: str
    arms: dict[str, ArmResult]
    published: dict[str, dict[str, float]] = PUBLISHED


def run_experiment(config: ExperimentConfig, out_dir: Path, report: Report = print) -> Ablation:
    """Synthesize (or reuse) the run, then train and evaluate every arm; write the comparison table."""
    run_dir = config.run or _synthesize(config, out_dir / "run", report)
    trajectories = finished_trajectories(run_dir, config.settings.filters if config.filter else None)
    if not trajectories:
        passing = " that passes the filters (see `reer filter`)" if config.filter else ""
        raise InputError(f"{run_dir} has no finished trajectory{passing}: nothing to train on")
    rows = {}
    for arm in config.arms:
        arm_dir = out_dir / "arms" / arm
        samples = arm_samples(arm, trajectories, config)
        model = _train(arm, samples, arm_dir, config, report)
        report(f"{arm}: evaluating {model}")
        results = evaluate(_eval_request(model, arm_dir / "eval", config))
        write_results(arm_dir / "eval", results)
        rows[arm] = ArmResult(
            samples=len(samples),
            model=model,
            headlines=results.headlines,
            smoke_test_only=results.smoke_test_only,
            likelihood_gain=results.likelihood.gain if results.likelihood else None,
            as_published=all(bench.as_published for bench in results.benchmarks.values()),
        )
    table = Ablation(run=str(run_dir), arms=rows)
    (out_dir / "ablation.json").write_text(table.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (out_dir / "ablation.md").write_text(render_table(table), encoding="utf-8")
    return table


def arm_samples(arm: Arm, trajectories: list[tuple[Any, Any]], config: ExperimentConfig) -> list[SftSample]:
    """The training samples of one arm (mixed with ``config.mix`` when given)."""
    seed = config.settings.seed
    full = [trajectory_sample(pair, t) for pair, t in trajectories]
    if arm == "no-reer":
        return with_mix(full, config.mix, config.settings.train.mix_ratio, seed)[1] if config.mix else []
    if arm == "initial-traces":
        samples = [trajectory_sample(pair, t, t.initial.trace) for pair, t in trajectories if t.initial]
    elif arm == "no-reflection":
        markers = config.settings.filters.reflection_markers
        samples = [
            trajectory_sample(pair, t, strip_reflection_markers(t.final_trace, markers)) for pair, t in trajectories
        ]
    elif arm in ("fewer-long", "fewer-short"):
        samples = _downsample(full, longer=arm == "fewer-long", share=config.downsample, seed=seed)
    else:
        samples = full
    return with_mix(samples, config.mix, config.settings.train.mix_ratio, seed)[0] if config.mix else samples


def _downsample(samples: list[SftSample], longer: bool, share: float, seed: int) -> list[SftSample]:
    """Drop ``share`` of the samples whose thinking is longer (shorter) than the median, chosen at random."""
    lengths = [len(units(s.thinking)) for s in samples]
    median = statistics.median(lengths)
    side = [i for i, n in enumerate(lengths) if (n > median if longer else n < median)]
    dropped = set(random.Random(seed).sample(side, math.ceil(share * len(side))))
    return [s for i, s in enumerate(samples) if i not in dropped]


def _synthesize(config: ExperimentConfig, run_dir: Path, report: Report) -> Path:
    from reer.search import synthesize

    assert config.pairs is not None  # load_experiment demands exactly one of `run` and `pairs`
    loaded = load_pairs(config.pairs)
    if loaded.problems:
        raise InputError(f"{config.pairs}: {loaded.problems[0]}")
    report(f"synthesizing {len(loaded.pairs)} pairs into {run_dir}")
    synthesize(loaded.pairs, run_dir, config.settings)
    return run_dir


def _train(arm: str, samples: list[SftSample], arm_dir: Path, config: ExperimentConfig, report: Report) -> str:
    """The arm's fine-tuned model (an existing one is reused); the base model when there is nothing to train on."""
    from reer.train import train

    final = arm_dir / "model" / "final"
    if (final / "reer-train.json").exists():
        report(f"{arm}: reusing {final}")
        return str(final)
    settings = apply_preset(config.settings.train, config.preset)
    if not samples:
        report(f"{arm}: no training data (no mix given): evaluating the base model {settings.base_model}")
        return settings.base_model
    arm_dir.mkdir(parents=True, exist_ok=True)
    data = arm_dir / "train.jsonl"
    data.write_text(
        "".join(json.dumps(WRITERS["messages-inline"](s), ensure_ascii=False) + "\n" for s in samples), encoding="utf-8"
    )
    report(f"{arm}: training on {len(samples)} samples")
    return str(train(samples, arm_dir / "model", settings, seed=config.settings.seed, source=str(data)).final)


def _eval_request(model: str, out_dir: Path, config: ExperimentConfig) -> EvalRequest:
    choice = config.benchmarks
    return EvalRequest.of(
        model,
        choice.names,
        out_dir,
        config.settings,
        sources={
            "longbench-write": choice.longbench,
            "hellobench": choice.hellobench,
            "writingbench": choice.writingbench,
        },
        groups={"writingbench": choice.domains, "hellobench": choice.subsets},
        lang=choice.lang,
        limit=choice.limit,
        references=choice.references,
        per_group=True,
        smoke=config.preset == "cpu-smoke",  # a wiring check: the embedded judge may score it
    )


def render_table(table: Ablation) -> str:
    """REER.md §5's ablation layout — arms by HB-B / WB-A / WB-D — ours (with intervals) beside the published."""
    lines = ["# Ablation: REER.md §5 arms", ""]
    if any(row.smoke_test_only for row in table.arms.values()):
        lines += ["> **SMOKE TEST ONLY** — judged by the embedded 135M model: these scores mean nothing.", ""]
    comparable = all(row.as_published for row in table.arms.values())
    if comparable:
        published = "Published: DeepWriter-8B (Qwen3-8B-Base), GPT-4o / Claude 3.7 judges."
        lines += [f"Run: {markdown(table.run)}. {published}", ""]
        header = " | ".join(f"{c} ours | {c} published" for c in COLUMNS)
        lines += [f"| arm | samples | {header} |", "|---|---|" + "---|---|" * len(COLUMNS)]
    else:
        lines += [
            f"Run: {markdown(table.run)}. Not computed as the benchmarks publish (each arm's eval/results.md names "
            "the deviations): the published figures are not shown beside these.",
            "",
            f"| arm | samples | {' | '.join(f'{c} ours' for c in COLUMNS)} |",
            "|---|---|" + "---|" * len(COLUMNS),
        ]
    for arm, row in table.arms.items():
        cells = " | ".join(
            fmt(row.headlines.get(c)) + (f" | {table.published[arm][c]}" if comparable else "") for c in COLUMNS
        )
        lines.append(f"| {arm} | {row.samples} | {cells} |")
    other = sorted({k for row in table.arms.values() for k in row.headlines} - set(COLUMNS))
    gain = ["likelihood gain"] if any(row.likelihood_gain for row in table.arms.values()) else []
    if other or gain:
        lines += ["", "Other measurements (no published ablation figure):", ""]
        lines += ["| arm | " + " | ".join(other + gain) + " |", "|---|" + "---|" * len(other + gain)]
        for arm, row in table.arms.items():
            values = [fmt(row.headlines.get(k)) for k in other] + ([fmt(row.likelihood_gain, 3)] if gain else [])
            lines.append(f"| {arm} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
