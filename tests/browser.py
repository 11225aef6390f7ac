"""A real headless Chromium for the report's tests: Debian's build, driven by Playwright (whose own browser
downloads cannot reach this network). Fixtures ``browser`` and ``page`` live in conftest.py; screenshots
land in ``artifacts/`` (or ``REER_ARTIFACTS``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("REER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("REER_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
# Headless as root, with nothing that phones home: this machine's network is closed.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def canvas_ink(tab: Any, scope: str) -> list[int]:
    """Painted pixels of each chart canvas under ``scope``: a chart that failed to draw has none."""
    return tab.evaluate(
        """scope => [...document.querySelectorAll(scope + ' canvas')].map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })""",
        scope,
    )


def table_ids(tab: Any) -> list[str]:
    """The item ids in the overview table's current page."""
    return tab.eval_on_selector_all("#items tbody tr td:nth-child(2) a", "links => links.map(a => a.textContent)")


def shoot(tab: Any, name: str) -> Path:
    """A full-page screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    tab.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def open_report(tab: Any, run: Path, out: Path, *options: str) -> Path:
    """`reer report RUN -o OUT OPTIONS`, checked to succeed, then opened in ``tab``."""
    made = subprocess.run(
        [sys.executable, "-m", "reer", "report", str(run), "-o", str(out), *options], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    tab.goto(out.as_uri())
    return out
