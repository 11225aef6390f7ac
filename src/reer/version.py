"""reer's version, read from the installed package's metadata: its one source is pyproject.toml."""

from importlib.metadata import version

__version__ = version("reer")
