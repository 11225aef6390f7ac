"""The suite's own rule: a missing optional package skips a test locally and fails it under CI=true."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_a_missing_extra_skips_locally_and_fails_in_ci(tmp_path, ci, outcome):
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_runtest_setup  # noqa: F401\n")
    (tmp_path / "test_probe.py").write_text(
        "from tests.conftest import needs\n\n@needs('no_such_module_xyz')\ndef test_probe():\n    pass\n"
    )
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert outcome in result.stdout and "no_such_module_xyz" in result.stdout, result.stdout
    assert (result.returncode != 0) == (ci == "true")
