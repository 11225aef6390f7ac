"""`reer view`: the report's pages served from a run directory, live.

Read-only by construction: the server answers GET only, and every request opens the run with a read-only
connection of its own, so it sees each stage the moment the writer commits it and can never change a run.
It binds to 127.0.0.1 unless told otherwise, and refuses requests whose Host is not the address it serves
(a web page elsewhere cannot reach it through a rebound DNS name); bound to every interface (0.0.0.0), on
request, it answers any Host.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reer.errors import ReerError
from reer.report.collect import item_page, run_overview
from reer.report.evaluations import contents, extra_documents
from reer.report.page import page
from reer.store import RunStore


def make_server(
    run_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    evals: Sequence[Path] = (),
    experiments: Sequence[Path] = (),
) -> ThreadingHTTPServer:
    """A server for ``run_dir`` (not yet serving: call ``serve_forever``). Port 0 picks a free one.
    Evaluations and experiments are read once, here: they are finished results, not a running search."""
    RunStore.open_existing(run_dir, readonly=True).close()  # a clear error now, not on the first request

    class Handler(_Handler):
        pass

    Handler.run_dir = run_dir
    Handler.evaluations, Handler.tables = extra_documents(list(evals), list(experiments))
    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ReerError(f"cannot serve on {host}:{port}: {exc.strerror or exc}; choose another with --port") from exc
    server.daemon_threads = True
    bound_host, bound_port = server.server_address[:2]
    if host in ("0.0.0.0", "::", ""):  # every interface, asked for: any name this machine goes by is fine
        Handler.hosts = None
    else:
        Handler.hosts = {f"{name}:{bound_port}" for name in (str(bound_host), host, "localhost", "127.0.0.1")}
    return server


class _Handler(BaseHTTPRequestHandler):
    run_dir: Path
    hosts: set[str] | None  # the Host headers served (None: any)
    evaluations: list[dict[str, Any]]
    tables: list[dict[str, Any]]
    server_version = "reer-view"

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        if self.hosts is not None and self.headers.get("Host") not in self.hosts:
            return self._send(421, b"unknown host\n", "text/plain")
        url = urlsplit(self.path)
        if url.path == "/":
            body = "".join(page(f"REER run {self.run_dir.resolve().name} (live)", "live"))  # the API names it fully
            return self._send(200, body.encode(), "text/html; charset=utf-8")
        if url.path in ("/api/eval", "/api/experiment"):
            documents = self.evaluations if url.path == "/api/eval" else self.tables
            number = parse_qs(url.query).get("k", [""])[0]
            if not number.isdigit() or int(number) >= len(documents):
                return self._json(404, {"error": "no such page"})
            return self._json(200, documents[int(number)])
        if url.path not in ("/api/overview", "/api/item"):
            return self._send(404, b"not found\n", "text/plain")
        try:
            store = RunStore.open_existing(self.run_dir, readonly=True)
        except ReerError as exc:
            return self._json(503, {"error": str(exc)})
        try:
            if url.path == "/api/overview":
                return self._json(200, run_overview(store, self.run_dir) | contents(self.evaluations, self.tables))
            params = parse_qs(url.query)
            try:
                item_id, rollout = params["id"][0], int(params.get("rollout", ["0"])[0])
            except (KeyError, ValueError):
                return self._json(400, {"error": "give ?id=ITEM&rollout=N"})
            try:
                return self._json(200, item_page(store, item_id, rollout))
            except ReerError as exc:
                return self._json(404, {"error": str(exc)})
        finally:
            store.close()

    def _json(self, code: int, value: Any) -> None:
        self._send(code, json.dumps(value, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server API)
        """Quiet: the terminal shows the address and how to stop, not one line per request."""
