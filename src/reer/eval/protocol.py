"""Each benchmark's official protocol as data (REER.md §5.1), and what a run actually used.

The runner never branches on a benchmark's name for sampling, attempts or the judge: it reads them here. A
setting the user overrides wins, and every difference from the benchmark's own value is named, so that
``results.md`` says "computed as published" only when there is none.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from reer.config import EvalConfig, JudgeConfig


class SamplingRecord(BaseModel):
    """Sampling as sent: a field left None is not sent at all (the official script does not set it)."""

    temperature: float
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int
    seed: int | None = None


@dataclass(frozen=True)
class Official:
    """What a benchmark's own code does."""

    judge_models: tuple[str, ...]  # names (lower-case fragments) of the judges the benchmark was published with
    judge: SamplingRecord
    attempts: int  # judge calls before a verdict counts as unscored
    answers: SamplingRecord
    thinking: str  # how the answer is cut from a reply with thinking


PROTOCOLS: dict[str, Official] = {
    # THUDM/LongWriter evaluation/eval_quality.py (get_response_gpt4, process_data) and pred.py.
    "longbench-write": Official(
        judge_models=("gpt-4o",),
        judge=SamplingRecord(temperature=0.5, max_tokens=1024),
        attempts=5,
        answers=SamplingRecord(temperature=0.5, max_tokens=32768),
        thinking="reer: the text after the thinking block (LongWriter's code predates thinking models)",
    ),
    # Quehry/HelloBench llm_judge.py (gpt4o_ckwise_evaluation); answers: its README / OpenCompass's max_out_len.
    "hellobench": Official(
        judge_models=("gpt-4o",),
        judge=SamplingRecord(temperature=0.8, max_tokens=4096, seed=42),
        attempts=3,
        answers=SamplingRecord(temperature=0.8, max_tokens=16384),
        thinking="reer: the text after the thinking block (HelloBench's code predates thinking models)",
    ),
    # X-PLUG/WritingBench evaluate_benchmark.py + evaluator/llm.py (3 rounds of 5 tries), README's parameters.
    "writingbench": Official(
        judge_models=("claude", "critic"),
        judge=SamplingRecord(temperature=1.0, top_p=0.95, max_tokens=2048),
        attempts=15,
        answers=SamplingRecord(temperature=0.7, top_p=0.8, top_k=20, max_tokens=16000),
        thinking="official: everything up to the first '</think>\\n\\n' removed",
    ),
}


class ProtocolRecord(BaseModel):
    """How one benchmark was computed (``results.json``): enough to tell whether it is comparable."""

    prompt_files: dict[str, str] = Field(description="The benchmark's own files read for the judge: path → sha256.")
    judge_model: str
    judge_sampling: SamplingRecord
    judge_attempts: int
    answer_sampling: SamplingRecord
    thinking: str
    sample: dict[str, object] = Field(description="The items: all of them, or a seeded stratified sample.")
    deviations: list[str] = Field(description="Every setting that differs from the benchmark's own.")

    @property
    def as_published(self) -> bool:
        return not self.deviations


def judge_sampling(name: str, judge: JudgeConfig) -> SamplingRecord:
    """The official judge sampling with the user's overrides (``eval.judge.*``) on top."""
    official = PROTOCOLS[name].judge
    return official.model_copy(
        update={
            key: value
            for key, value in {
                "temperature": judge.temperature,
                "top_p": judge.top_p,
                "max_tokens": judge.max_tokens,
            }.items()
            if value is not None
        }
    )


def answer_sampling(name: str, config: EvalConfig, seed: int) -> SamplingRecord:
    """The official answer sampling with the user's overrides (``eval.temperature`` …) on top. The answers are
    seeded with the run's seed (the published scripts seed their generators too): it fixes the draw, not the
    distribution."""
    official = PROTOCOLS[name].answers
    overrides = {
        "temperature": config.temperature,
        "top_p": config.top_p,
        "top_k": config.top_k,
        "max_tokens": config.max_new_tokens,
    }
    return official.model_copy(update={k: v for k, v in overrides.items() if v is not None} | {"seed": seed})


def attempts(name: str, judge: JudgeConfig) -> int:
    return judge.attempts if judge.attempts is not None else PROTOCOLS[name].attempts


def deviations(
    name: str, judge: SamplingRecord, answers: SamplingRecord, tries: int, judge_model: str, smoke: bool
) -> list[str]:
    """Each difference from the benchmark's own protocol, in words."""
    official = PROTOCOLS[name]
    found = []
    if smoke:
        found.append("judge: the embedded 135M model (a smoke test, not a judge)")
    elif not any(part in judge_model.lower() for part in official.judge_models):
        found.append(f"judge model {judge_model!r}; the benchmark's: {' or '.join(official.judge_models)}")
    for label, used, own in (("judge", judge, official.judge), ("answer", answers, official.answers)):
        for key in ("temperature", "top_p", "top_k", "max_tokens"):
            if getattr(used, key) != getattr(own, key):
                found.append(f"{label} {key} {getattr(used, key)} (the benchmark's: {getattr(own, key)})")
    if judge.seed != official.judge.seed:
        found.append(f"judge seed {judge.seed} (the benchmark's: {official.judge.seed})")
    if tries != official.attempts:
        found.append(f"{tries} judge attempts (the benchmark's: {official.attempts})")
    return found
