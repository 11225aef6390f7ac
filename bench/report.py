"""`reer report` on a run of 10,000 synthetic items (the fake backend), opened in headless Chromium.

Measured: writing the report, its size, and in the browser the time until the overview is usable (table
rows and all four charts drawn), a search over every row, a sort, and opening an item page. Against the
baseline the report avoids: one static page with every item's page inline (what a template engine writes
when it renders the whole run), whose load time is measured the same way.
"""

from __future__ import annotations

import html
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.store import REFERENCE
from reer.config import ModelConfig, ReerConfig, SearchConfig
from reer.records import Pair
from reer.report import item_page, write_report
from reer.search.runner import synthesize
from reer.store import RunStore
from tests.browser import CHROMIUM, FLAGS  # the tests' Chromium and its flags


def run(items: int = 10_000, steps: int = 3) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        pairs = [Pair(id=f"item-{k}", query=f"Write about keeper {k}.", reference=REFERENCE) for k in range(items)]
        synthesize(
            pairs, run_dir, ReerConfig(generator=ModelConfig(backend="fake"), search=SearchConfig(max_steps=steps))
        )
        report = Path(tmp) / "report.html"
        started = time.perf_counter()
        write_report(run_dir, report, item_pages=items)
        write_seconds = time.perf_counter() - started
        inline = Path(tmp) / "inline.html"
        _inline_baseline(run_dir, inline)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                ours = _browse(browser, report, items - 1)
                baseline = _load(browser, inline, "body > section:last-of-type")
            finally:
                browser.close()
        report_bytes, inline_bytes = report.stat().st_size, inline.stat().st_size
    return {
        "items": items,
        "steps_per_item": steps,
        "write_seconds": write_seconds,
        "report_mb": report_bytes / 1e6,
        "bytes_per_item": report_bytes / items,
        "browser": ours,
        "inline_baseline": {"load_s": baseline, "mb": inline_bytes / 1e6},
        "speedup_overview_vs_inline": baseline / ours["overview_s"],
    }


def _browse(browser: Any, report: Path, last: int) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    started = time.perf_counter()
    page.goto(report.as_uri())
    page.wait_for_selector("#items tbody tr")
    page.wait_for_function("() => document.querySelectorAll('#overview canvas').length === 4")
    overview = time.perf_counter() - started
    started = time.perf_counter()
    page.fill("#search", f"keeper {last}.")
    page.wait_for_selector("#table-summary:text-matches('^1 of')")
    search = time.perf_counter() - started
    page.fill("#search", "")
    started = time.perf_counter()
    page.click("th[data-key='final_score']")
    page.wait_for_selector("th.sorted[data-key='final_score']")
    sort = time.perf_counter() - started
    started = time.perf_counter()
    page.click("#items tbody tr:first-child a")
    page.wait_for_selector("#heat .tok")
    item = time.perf_counter() - started
    page.close()
    assert not problems, problems
    return {"overview_s": overview, "search_s": search, "sort_s": sort, "item_page_s": item}


def _load(browser: Any, path: Path, last: str) -> float:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    started = time.perf_counter()
    page.goto(path.as_uri(), timeout=600_000)
    page.wait_for_selector(last, timeout=600_000)
    seconds = time.perf_counter() - started
    page.close()
    return seconds


def _inline_baseline(run_dir: Path, out: Path) -> None:
    """Every item's page written out as static HTML, one after another: the texts, every candidate, the
    reference tokens as spans — the same documents the report packs, rendered eagerly."""
    store = RunStore.open_existing(run_dir, readonly=True)
    try:
        with out.open("w", encoding="utf-8") as handle:
            handle.write("<!doctype html><html><head><meta charset='utf-8'></head><body>")
            for row in store.overview():
                page = item_page(store, row.item_id, row.rollout)
                parts = [f"<section><h2>{html.escape(page['item_id'])}</h2>"]
                parts += [f"<pre>{html.escape(page[key])}</pre>" for key in ("query", "reference")]
                for step in page["steps"]:
                    parts.append(f"<pre>{html.escape(step['original'])}</pre>")
                    parts += [f"<pre>{html.escape(c['raw'])}</pre>" for c in step["candidates"]]
                if page["heat"]:
                    parts += [f"<span>{html.escape(t)}</span>" for t in page["heat"]["tokens"]]
                handle.write("".join(parts) + "</section>\n")
            handle.write("</body></html>")
    finally:
        store.close()
