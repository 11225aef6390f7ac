"""The REER search (REER.md §1–3): segments, the score, the per-item search and the run over many items."""

from reer.records.trajectory import Candidate, InitialTrace, Scored, Step, Trajectory
from reer.search.reer import Journal, Searcher, new_trajectory
from reer.search.runner import RunSummary, synthesize

__all__ = [
    "Candidate",
    "InitialTrace",
    "Journal",
    "RunSummary",
    "Scored",
    "Searcher",
    "Step",
    "Trajectory",
    "new_trajectory",
    "synthesize",
]
