"""Evaluation: the published writing benchmarks with a recorded judge, deterministic metrics, ablations."""

from reer.eval.benchmarks import BENCHMARKS, Selection
from reer.eval.report import write_results
from reer.eval.runner import EvalRequest, evaluate

__all__ = ["BENCHMARKS", "EvalRequest", "Selection", "evaluate", "write_results"]
