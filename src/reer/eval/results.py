"""The typed results of ``reer eval``: what ``results.json`` holds, and what the report, the CLI and the
ablation table read — by attribute, so a renamed field fails the type checker instead of a run."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from reer.eval.protocol import ProtocolRecord


class Estimate(BaseModel):
    """A mean over items with its bootstrap interval; ``mean`` is None when no item could be scored."""

    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = Field(0, description="Items scored.")
    unscored: int = Field(0, description="Items whose judge verdict never parsed: counted, never zero-filled.")


class MetricSummary(BaseModel):
    overall: Estimate
    groups: dict[str, Estimate] = Field(description="Per WritingBench domain, HelloBench subset, …")


class JudgeCounts(BaseModel):
    tasks: int
    unscored: int
    retried: int = Field(description="Verdicts that needed more than one call.")
    calls: int


class ThinkingSummary(BaseModel):
    """Means over the answers (lengths in words, characters for Chinese)."""

    thinking_units: float
    answer_units: float
    reflections_per_1k: float = Field(description="Reflection phrases per 1,000 thinking units.")
    top3_trigram_share: float
    with_thinking: float = Field(description="Share of answers with a non-empty thinking block.")
    cut_off: int = Field(description="Answers that ran out of tokens.")
    seconds_per_answer: float


class ItemResult(BaseModel):
    id: str
    group: str
    language: str
    answer_units: int
    thinking_units: int
    tokens: int
    finish_reason: str
    required_length: float | None = Field(None, description="LongBench-Write: the length the request asks for.")
    scores: dict[str, float | None] = Field(description="Metric → this item's value (None: unscored).")


class BenchmarkResult(BaseModel):
    items: int
    headlines: dict[str, Estimate] = Field(description="The paper's columns (LB, HB-B, WB-A, …).")
    metrics: dict[str, MetricSummary]
    judge: JudgeCounts
    thinking: ThinkingSummary | None = Field(None, description="None when there were no answers.")
    per_item: list[ItemResult]
    protocol: ProtocolRecord | None = Field(
        None, description="How it was computed: the benchmark's files read, sampling, attempts, sample, deviations."
    )

    @property
    def as_published(self) -> bool:
        """Computed exactly as the benchmark's own code computes it (every setting its own)."""
        return self.protocol is not None and self.protocol.as_published


class LikelihoodResult(BaseModel):
    """Mean negative log-likelihood per held-out reference token, without and with the model's own thinking."""

    nll_without_thinking: Estimate
    nll_with_thinking: Estimate
    gain: Estimate = Field(description="nll_without_thinking − nll_with_thinking: higher is better.")
    reer_without_thinking: Estimate
    reer_with_thinking: Estimate
    pairs: int
    source: str


class EvalResults(BaseModel):
    created: str
    model: str
    judge: str
    smoke_test_only: bool = Field(description="Judged by the embedded 135M model: the scores mean nothing.")
    confidence: float
    settings: dict[str, Any] = Field(description="What the numbers depend on; a resumed evaluation must match.")
    versions: dict[str, str]
    benchmarks: dict[str, BenchmarkResult]
    likelihood: LikelihoodResult | None = None

    @property
    def headlines(self) -> dict[str, Estimate]:
        """Every benchmark's headline columns in one mapping."""
        return {label: e for bench in self.benchmarks.values() for label, e in bench.headlines.items()}
