"""The reliability suite: faults injected on purpose (``faults.py``), hostile inputs, kills and two writers."""

import pytest

from tests.reliability import faults


@pytest.fixture(autouse=True)
def faulty_backend(monkeypatch):
    """Backend ``faulty`` exists while a reliability test runs, and only then."""
    from reer.backends import BACKENDS

    monkeypatch.setitem(BACKENDS, "faulty", f"{faults.__name__}:FaultyBackend")
