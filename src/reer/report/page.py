"""The one HTML page behind both the report file and the viewer.

The page is self-contained: its stylesheet, Chart.js (vendored, MIT, see static/chart.js-LICENSE.md) and
the app are inline, so a report opens offline from a USB stick or a mail. Data goes in as JSON inside
``<script type="application/json">`` blocks with every ``<`` written ``\\u003c``: no string from a run can
close the block. A Content-Security-Policy with a per-page nonce lets only the page's own scripts run, so
even markup that slipped into the DOM could not execute.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from reer.report.collect import item_page, run_overview
from reer.report.evaluations import contents, extra_documents
from reer.store import RunStore


def page(title: str, mode: str, data: Iterable[str] = ()) -> Iterator[str]:
    """The page in pieces (a report of 10,000 items is written as it is read, never held whole).
    ``mode``: ``file`` (the data blocks follow) or ``live`` (the viewer's API serves the data)."""
    nonce = secrets.token_urlsafe(18)
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'"
    )
    yield (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_asset('style.css')}</style></head>\n"
        f'<body data-mode="{mode}"><div id="app"><main><p>Loading…</p></main></div>\n'
    )
    yield from data
    yield f'<script nonce="{nonce}">{_asset("chart.umd.min.js")}</script>\n'
    yield f'<script nonce="{nonce}">{_asset("app.js")}</script>\n</body></html>\n'


ITEM_PAGES = 1000  # a published-size item's page is tens of KB packed: 1,000 of them is a file a browser opens


def write_report(
    run_dir: Path,
    out: Path,
    item_pages: int = ITEM_PAGES,
    evals: Sequence[Path] = (),
    experiments: Sequence[Path] = (),
) -> dict[str, Any]:
    """Write the report of ``run_dir`` (with the evaluations and experiments given) to ``out``, atomically:
    a half-written report never replaces a good one. Return the overview it shows. Every trajectory is in
    the overview; the first ``item_pages`` have their item page in the file (`reer view` serves every one)."""
    evaluations, tables = extra_documents(list(evals), list(experiments))  # a bad folder fails before writing
    store = RunStore.open_existing(run_dir, readonly=True)
    try:
        overview = run_overview(store, run_dir) | contents(evaluations, tables)
        overview["item_pages"] = min(max(item_pages, 0), len(overview["items"]))
        staging = out.with_name(f".{out.name}.tmp")
        with staging.open("w", encoding="utf-8") as handle:
            for piece in page(f"REER run {overview['run']}", "file", _data(store, overview, evaluations, tables)):
                handle.write(piece)
        os.replace(staging, out)
        return overview
    finally:
        store.close()


def json_block(element_id: str, value: Any) -> str:
    return f'<script type="application/json" id="{element_id}">{script_json(value)}</script>\n'


def script_json(value: Any) -> str:
    """JSON that is safe inside a script element: ``<`` only appears in strings, where ``\\u003c`` means
    the same to JSON.parse and cannot end the element."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _data(
    store: RunStore, overview: dict[str, Any], evaluations: list[dict[str, Any]], tables: list[dict[str, Any]]
) -> Iterator[str]:
    yield json_block("reer-overview", overview)
    for index, row in enumerate(overview["items"][: overview["item_pages"]]):
        yield _packed(f"item-{index}", item_page(store, row["item_id"], row["rollout"]))
    for index, document in enumerate(evaluations):
        yield _packed(f"eval-{index}", document)
    for index, document in enumerate(tables):
        yield _packed(f"experiment-{index}", document)


def _packed(element_id: str, document: dict[str, Any]) -> str:
    """A document as gzip and base64 in an inert script element: the page unpacks it when it is opened."""
    packed = gzip.compress(json.dumps(document, ensure_ascii=False).encode(), compresslevel=6, mtime=0)
    return f'<script type="application/gzip-base64" id="{element_id}">{base64.b64encode(packed).decode()}</script>\n'


@cache
def _asset(name: str) -> str:
    return (files("reer.report") / "static" / name).read_text(encoding="utf-8")
