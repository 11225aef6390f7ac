"""Export: finished trajectories out of a run store, as SFT datasets other tools read."""

from reer.export.dataset import ExportResult, export_dataset
from reer.export.records import trajectory_row
from reer.records.formats import FORMATS, read_samples
from reer.records.sample import SftSample

__all__ = ["FORMATS", "ExportResult", "SftSample", "export_dataset", "read_samples", "trajectory_row"]
