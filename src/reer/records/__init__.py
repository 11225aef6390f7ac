"""The record types every stage shares: pairs in, search trajectories, SFT samples out.

They sit below the stages (``data``, ``search``, ``store``, ``filters``, ``export``, ``train``, ``eval``),
which import them from here and never from one another's packages.
"""

from reer.records.pair import Pair
from reer.records.sample import SftSample
from reer.records.trajectory import Candidate, InitialTrace, Scored, Step, Trajectory, clipped_score

__all__ = ["Candidate", "InitialTrace", "Pair", "Scored", "SftSample", "Step", "Trajectory", "clipped_score"]
