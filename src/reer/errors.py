"""User-facing errors.

Every error a user can cause or fix is a ``ReerError``: the CLI prints its message (which says what to do
next) without a traceback, unless ``--debug`` is given.
"""


class ReerError(Exception):
    """An error the user can act on; the message says how."""

    exit_code = 1


class ConfigError(ReerError):
    """The configuration is invalid, or differs from the one a run was started with."""


class UsageError(ConfigError):
    """A command-line argument is malformed: exit code 2, as for any other usage error."""

    exit_code = 2


class InputError(ReerError):
    """An input file cannot be read at all (single bad rows are reported, not raised)."""


class ModelNotFoundError(ReerError):
    """A model cannot be found offline."""


class BackendError(ReerError):
    """A backend name is unknown or its optional dependency is missing."""


class TemplateError(ReerError):
    """A chat template altered the text that must be scored."""
