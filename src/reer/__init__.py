"""reer — reverse-engineered reasoning (REER) for open-ended writing.

The public API is small: load pairs, configure, synthesize into a run directory, export.

    from reer import load_config, load_pairs, synthesize, export_dataset
"""

from reer.config import ReerConfig, SearchConfig, load_config
from reer.export import export_dataset
from reer.records.pair import Pair, load_pairs
from reer.search import Searcher, Trajectory, synthesize
from reer.version import __version__

__all__ = [
    "Pair",
    "ReerConfig",
    "SearchConfig",
    "Searcher",
    "Trajectory",
    "__version__",
    "export_dataset",
    "load_config",
    "load_pairs",
    "synthesize",
]
