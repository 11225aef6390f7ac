"""Post-filters on finished trajectories (``reer filter``): which ones become training data, and why not."""

from reer.filters.checks import CHECKS, failed_checks
from reer.filters.run import FilterReport, filter_run

__all__ = ["CHECKS", "FilterReport", "failed_checks", "filter_run"]
