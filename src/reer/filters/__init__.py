"""Post-filters on finished trajectories (``reer filter``): which ones become training data, and why not."""

from reer.filters.audit import AuditResult, audit_dataset
from reer.filters.checks import CHECKS, failed_checks
from reer.filters.run import FilterReport, filter_run

__all__ = ["CHECKS", "AuditResult", "FilterReport", "audit_dataset", "failed_checks", "filter_run"]
