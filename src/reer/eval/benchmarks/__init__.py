"""The writing benchmarks of the published evaluation, by name."""

from __future__ import annotations

from reer.eval.benchmarks.base import Benchmark, EvalItem, JudgeTask, Selection, Verdicts
from reer.eval.benchmarks.hellobench import HelloBench
from reer.eval.benchmarks.longbench_write import LongBenchWrite
from reer.eval.benchmarks.writingbench import WritingBench

_ALL: tuple[Benchmark, ...] = (LongBenchWrite(), HelloBench(), WritingBench())
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in _ALL}

__all__ = ["BENCHMARKS", "Benchmark", "EvalItem", "JudgeTask", "Selection", "Verdicts"]
