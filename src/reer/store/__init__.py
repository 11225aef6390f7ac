"""The run store: one SQLite database per run directory, the source of truth for a synthesis run."""

from reer.store.db import RunStore

__all__ = ["RunStore"]
