"""Where reer keeps files it can rebuild (converted models): never inside a run directory."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$REER_CACHE_DIR``, else ``$XDG_CACHE_HOME/reer``, else ``~/.cache/reer``."""
    if explicit := os.environ.get("REER_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "reer"
