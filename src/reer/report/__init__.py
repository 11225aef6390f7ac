"""See what a search did: `reer report` (one self-contained HTML file) and `reer view` (the same pages,
served live from a run directory)."""

from reer.report.collect import item_page, run_overview, status_document
from reer.report.page import write_report
from reer.report.viewer import make_server

__all__ = ["item_page", "make_server", "run_overview", "status_document", "write_report"]
