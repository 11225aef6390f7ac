"""`reer report`, `reer view` and `reer status --json`, checked the way a user meets them: in a real headless
Chromium (Debian's, driven by Playwright), on a real run of the embedded model and on runs whose data tries
to inject markup. Screenshots of the pages land in ``artifacts/`` (``REER_ARTIFACTS``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reer.report.collect import word_diff
from reer.report.page import script_json
from reer.search.reer import current_segments
from reer.store import RunStore
from tests.browser import canvas_ink, open_report, shoot, table_ids
from tests.conftest import LONG_REFERENCE, fake_run, wait_for
from tests.reliability.faults import REPO, fault_config, reer_command, write_pairs

PROBE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script></script><b onmouseover=alert(3)>'


def reer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reer", *args], capture_output=True, text=True, timeout=600)


# -- the report of a real run ------------------------------------------------------------------------------


def test_the_report_of_the_demo_run_shows_its_search(demo_run, page):
    out, result = demo_run
    assert result.returncode == 0, result.stderr
    run = out / "run"
    report = out / "report.html"  # the one `reer demo` wrote: what a first-time user opens
    status = json.loads(reer("status", str(run), "--json").stdout)
    done = [row for row in status["items"] if row["status"] == "done"]
    assert done, "the demo finished no trajectory"

    page.goto(report.as_uri())
    page.wait_for_selector("#items tbody tr")
    assert table_ids(page) == [row["item_id"] for row in status["items"]][:50]
    assert page.inner_text("#table-summary") == f"{status['total']} of {status['total']} trajectories"
    cards = page.inner_text(".cards")
    assert f"{status['counts']['done']}\ndone" in cards
    assert f"{status['mean_initial']:.4f} → {status['mean_final']:.4f}" in cards
    ink = canvas_ink(page, "#overview")
    assert len(ink) == 4 and all(n > 500 for n in ink), ink
    shoot(page, "report-overview.png")

    # The search box filters the table, by id and by request text.
    target = done[-1]
    page.fill("#search", target["item_id"])
    assert table_ids(page) == [target["item_id"]]
    page.fill("#search", target["query"][:30])
    assert target["item_id"] in table_ids(page)
    page.fill("#search", "no such item anywhere")
    assert table_ids(page) == []
    page.fill("#search", "")

    # An item page: every candidate of every step, the heat map over the scored reference tokens, the
    # final thinking in its segments, and the score path drawn.
    page.click(f"#items a:text-is('{target['item_id']}')")
    page.wait_for_selector("#item")
    store = RunStore.open_existing(run, readonly=True)
    trajectory = store.trajectory(target["item_id"], target["rollout"])
    pair = store.pair(target["item_id"])
    config = json.loads(store.get_meta("config") or "{}")
    store.close()
    assert page.locator(".step").count() == len(trajectory.steps) > 0
    assert page.locator(".candidate").count() == sum(len(s.candidates) for s in trajectory.steps)
    assert page.locator("#heat .tok").count() == len(trajectory.scored_tokens) > 0
    segments = current_segments(trajectory, config["search"]["min_segment_chars"])
    assert page.locator("#thinking .segment").count() == len(segments)
    kept = [s for s in trajectory.steps if s.chosen is not None]
    assert page.locator("#thinking .segment.rewritten").count() == len({s.segment_index for s in kept})
    assert page.inner_text("#reference").strip() == pair.reference.strip()
    assert all(n > 500 for n in canvas_ink(page, "#item"))
    page.click(".step >> nth=0")  # open the first step: its candidates' word diffs show
    assert page.locator(".step >> nth=0").locator("ins, del").count() > 0
    shoot(page, "report-item.png")

    page.go_back()
    page.wait_for_selector("#overview")
    assert page.problems == []
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests


# -- untrusted text ----------------------------------------------------------------------------------------


@pytest.fixture
def hostile_run(tmp_path):
    pairs = [
        {
            "id": f"x{PROBE}",
            "query": f"Write about {PROBE} a lighthouse keeper.",
            "reference": f"{LONG_REFERENCE} {PROBE}",
        },
        {"id": "plain", "query": "Write about a lighthouse keeper.", "reference": LONG_REFERENCE},
    ]
    return fake_run(tmp_path, pairs)


def _inert(tab: Any) -> None:
    """Nothing the probe carries ran or became an element, and it reads as the text it is."""
    tab.wait_for_selector("#items tbody tr")
    assert table_ids(tab)[0] == f"x{PROBE}"
    tab.click("#items tbody tr:first-child a")
    tab.wait_for_selector("#item")
    assert PROBE in tab.inner_text("#query") and PROBE in tab.inner_text("#reference")
    assert PROBE in tab.inner_text("h1")
    assert tab.evaluate("window.__pwned") is None
    assert tab.evaluate("document.querySelectorAll('#app img, #app script, #app b').length") == 0
    tab.hover("#reference")
    assert tab.evaluate("window.__pwned") is None
    assert tab.problems == []


def test_untrusted_text_is_inert_in_the_report(hostile_run, page, tmp_path):
    report = tmp_path / "report.html"
    assert reer("report", str(hostile_run), "-o", str(report)).returncode == 0
    html = report.read_text(encoding="utf-8")
    assert "window.__pwned" in html and "<img src=x" not in html and "<script>window" not in html
    page.goto(report.as_uri())
    _inert(page)


def test_untrusted_text_is_inert_in_the_viewer_which_is_read_only(hostile_run, page, viewer):
    url = viewer(hostile_run)
    page.goto(url)
    _inert(page)
    assert httpx.post(url + "api/overview").status_code == 501  # GET only
    assert httpx.get(url, headers={"Host": "evil.example:80"}).status_code == 421  # DNS rebinding
    missing = httpx.get(url + "api/item", params={"id": "nope", "rollout": 0})
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    assert httpx.get(url + "api/item", params={"id": f"x{PROBE}", "rollout": 0}).json()["query"].count(PROBE) == 1


def test_the_viewer_follows_a_run_while_it_goes(tmp_path, page, viewer):
    config = fault_config(tmp_path / "slow.yaml", max_steps=1)
    pairs = write_pairs(tmp_path / "pairs.jsonl", *["slow"] * 6, n=6)  # ~0.4 s per model call
    run = tmp_path / "run"
    synthesis = subprocess.Popen(
        reer_command("synthesize", str(pairs), "-o", str(run), "--config", str(config)),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for("the run's first stage", lambda: _done(run) >= 0, 60)
        page.goto(viewer(run))
        page.wait_for_selector("#live")
        before = _shown_done(page)
        assert before < 6
        # The page itself (no reload) catches up as stages commit, then sees the run end.
        wait_for("the page to show more finished items", lambda: _shown_done(page) > before, 60, interval=0.5)
        assert synthesis.wait(timeout=120) == 0, synthesis.stderr.read()
        page.wait_for_selector("#live", state="detached", timeout=20_000)
        assert page.inner_text(".cards .card .value >> nth=0") == "6"
        assert len(table_ids(page)) == 6
        assert page.problems == []
    finally:
        synthesis.kill()


def _shown_done(tab: Any) -> int:
    return int(tab.inner_text(".cards .card .value >> nth=0").replace(",", ""))


def _done(run: Path) -> int:
    try:
        store = RunStore.open_existing(run, readonly=True)
    except Exception:
        return -1
    try:
        return store.status_counts().get("done", 0) if store.get_meta("fingerprint") else -1
    finally:
        store.close()


# -- status --json and the building blocks -------------------------------------------------------------------


def test_status_json_is_the_store_s_view(tmp_path):
    pairs = [
        {"id": f"item-{i}", "query": f"Write about a keeper, number {i}.", "reference": LONG_REFERENCE}
        for i in range(3)
    ]
    run = fake_run(tmp_path, pairs)
    result = reer("status", str(run), "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    store = RunStore.open_existing(run, readonly=True)
    try:
        assert status["counts"] == store.status_counts() == {"done": 3}
        assert [r["item_id"] for r in status["items"]] == ["item-0", "item-1", "item-2"]
        for row in status["items"]:
            t = store.trajectory(row["item_id"], row["rollout"])
            assert row["final_score"] == pytest.approx(t.final_score)
            assert row["initial_score"] == pytest.approx(t.initial_score)
            assert row["steps"] == len(t.steps) and row["accepted"] == sum(s.chosen is not None for s in t.steps)
            assert row["generated_tokens"] == t.generated_tokens
            assert row["model_seconds"] == pytest.approx(t.seconds)
            assert row["thinking_chars"] == len(t.final_trace or "")
        assert store.search_calls()[0] == 1
    finally:
        store.close()


@given(st.text(max_size=200), st.text(max_size=200))
def test_a_word_diff_rebuilds_both_texts(old, new):
    runs = word_diff(old, new)
    assert "".join(text for op, text in runs if op != "+") == old
    assert "".join(text for op, text in runs if op != "-") == new


@given(
    st.recursive(
        st.text() | st.integers() | st.none(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)
    )
)
def test_json_in_a_script_block_cannot_close_it(value):
    text = script_json(value)
    assert "<" not in text and json.loads(text) == value


def test_a_report_of_no_run_says_so(tmp_path):
    result = reer("report", str(tmp_path))
    assert result.returncode != 0 and "not a reer run directory" in result.stderr + result.stdout
    assert not (tmp_path / "report.html").exists()


def test_a_report_limited_to_some_item_pages_says_where_the_rest_are(hostile_run, page, tmp_path):
    report = tmp_path / "report.html"
    made = reer("report", str(hostile_run), "-o", str(report), "--item-pages", "1")
    assert made.returncode == 0 and "item pages for the first 1" in made.stdout
    page.goto(report.as_uri())
    page.wait_for_selector("#items tbody tr")
    assert len(table_ids(page)) == 2  # the table has every trajectory
    page.click("#items a:text-is('plain')")
    assert "reer view" in page.inner_text(".error")
    page.go_back()
    page.click("#items tbody tr:first-child a")
    page.wait_for_selector("#item")


def test_the_filter_s_verdicts_show_in_the_overview_and_on_the_item(page, tmp_path):
    pairs = [{"id": f"item-{i}", "query": f"Write about keeper {i}.", "reference": LONG_REFERENCE} for i in range(3)]
    run = fake_run(tmp_path, pairs)
    judged = reer("filter", str(run), "--set", "filters.min_thinking_units=100000")
    assert judged.returncode == 0, judged.stderr
    open_report(page, run, tmp_path / "report.html")
    page.wait_for_selector("#items tbody tr")
    assert "too-short\n3" in page.inner_text(".reasons").replace("\t", "\n")
    assert page.locator("#items .badge:text-is('filtered')").count() == 3
    page.select_option("#status-filter", "filtered")
    assert len(table_ids(page)) == 3
    page.click("#items tbody tr:first-child a")
    page.wait_for_selector("#verdicts")
    assert "too-short: " in page.inner_text("#verdicts") and "< 100000" in page.inner_text("#verdicts")
    assert page.problems == []


def test_a_viewer_bound_to_every_interface_answers_any_host(hostile_run):
    from reer.report import make_server

    server = make_server(hostile_run, "0.0.0.0", 0)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/api/overview", headers={"Host": f"lab-box.local:{port}"})
        assert answer.status_code == 200 and answer.json()["total"] == 2
    finally:
        server.shutdown()
        server.server_close()


def test_gopher_verdicts_and_the_quality_of_the_kept_thinking_show(page, tmp_path):
    pairs = [{"id": f"item-{i}", "query": f"Write about keeper {i}.", "reference": LONG_REFERENCE} for i in range(3)]
    run = fake_run(tmp_path, pairs)
    judged = reer("filter", str(run), "--set", "filters.repetition_limits.top_2gram_char_frac=0.001")
    assert judged.returncode == 0, judged.stderr
    open_report(page, run, tmp_path / "strict.html")
    page.wait_for_selector("#items tbody tr")
    assert "gopher-repetition\n3" in page.inner_text(".reasons").replace("\t", "\n")
    assert page.locator("#quality").count() == 0  # nothing kept: no quality to show
    page.click("#items tbody tr:first-child a")
    page.wait_for_selector("#verdicts")
    assert "characters in the top 2-gram" in page.inner_text("#verdicts") and "> 0.00" in page.inner_text("#verdicts")

    assert reer("filter", str(run)).returncode == 0  # default limits: all three kept
    open_report(page, run, tmp_path / "kept.html")
    page.wait_for_selector("#quality")
    quality = page.inner_text("#quality")
    assert "(3 trajectories)" in quality and "distinct-2" in quality and "Languages: en 3" in quality
    rows = page.locator("#quality-repetition tbody tr")
    assert rows.count() == 13 and "characters in duplicate 10-grams" in quality
    shoot(page, "report-quality.png")
    assert page.problems == []
