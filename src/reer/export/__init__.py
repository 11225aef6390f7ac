"""Export: finished trajectories out of a run store, as files other tools read."""

from reer.export.jsonl import export_jsonl, trajectory_row

__all__ = ["export_jsonl", "trajectory_row"]
