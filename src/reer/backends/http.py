"""Traffic to inference servers: bounded in-flight requests, timeouts, retries with backoff and jitter.

A request that still fails after its retries raises :class:`ServerError`, which fails the item that made
it (recorded with the reason; a rerun retries it) and never the run. The API key is read from the named
environment variable, sent in the ``Authorization`` header, and appears in no message, log or record.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
import urllib.request
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3

from reer.backends.base import note_retry
from reer.errors import ConfigError

RETRIED_STATUS = {408, 409, 425, 429}  # and every 5xx but 501 Not Implemented


class ServerError(RuntimeError):
    """A server kept failing or refused a request: the item fails with this reason, the run goes on."""


class ServerRefused(ServerError):
    """A 4xx answer other than the retried ones, or 501: sending it again cannot help."""


# Failures a server reports whose fix reer knows: (text in the error body, what to tell the user).
KNOWN_CAUSES = (
    (
        "EngineCore encountered an issue",
        "vLLM's engine died (its log has the cause). On vLLM's CPU build a seeded request whose prompt is split "
        "by chunked prefill kills it ('CPU Generator does not use offset'): restart the server with "
        "--no-enable-chunked-prefill and --max-num-batched-tokens at least --max-model-len (docs/deployment.md)",
    ),
)


def known_cause(body: str) -> str:
    """``"; " +`` the fix for a failure a server reported, if reer knows it."""
    return next((f"; {fix}" for marker, fix in KNOWN_CAUSES if marker in body), "")


class Traffic:
    def __init__(
        self,
        urls: Sequence[str],
        api_key_env: str | None,
        max_concurrency: int,
        connect_timeout: float,
        read_timeout: float,
        retries: int,
    ) -> None:
        if not urls:
            raise ConfigError("the openai backend needs base_url: the server root(s), e.g. http://127.0.0.1:8000/v1")
        headers = {}
        self._key: str | None = None
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise ConfigError(
                    f"the API key is read from the environment variable {api_key_env}, which is not set; export "
                    "it, or set api_key_env to null for a server that needs no key"
                )
            headers["Authorization"] = f"Bearer {key}"
            self._key = key
        # urllib3, not httpx: a third of httpx's CPU per request (0.3 against 0.8 ms measured), which at
        # hundreds of requests a second is the driver's time. Retries and redirects are ours (below).
        self._headers = {**headers, "Content-Type": "application/json"}
        self.client = _pool(
            urls[0],
            num_pools=max(len(urls), 1),
            maxsize=max_concurrency,
            headers=headers,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,
        )
        self.slots = threading.BoundedSemaphore(max_concurrency)
        self.retries = retries
        self._bases = [u.rstrip("/") for u in urls]
        self._urls = itertools.cycle(self._bases)
        self._lock = threading.Lock()
        self.retried = 0  # requests sent again after a failure, over the backend's life
        # Why the servers fail, where they said and reer knows the fix; kept until a request succeeds: a server
        # whose engine died answers the next requests with connection errors, which name no cause.
        self.cause = ""

    def next_url(self) -> str:
        with self._lock:
            return next(self._urls)

    def post(self, path: str, body: dict[str, Any], root: bool = False, parse: bool = True) -> Any:
        """POST ``body`` as JSON to the next server's ``path`` (``root``: under the server root, not ``/v1``); the
        answer parsed, or its bytes (``parse=False``: a scoring answer, which its dialect reads)."""
        return self._send(path, body, root, parse=parse)

    def get_each(self, path: str) -> dict[str, Any]:
        """GET ``path`` from every server: server root → answer, ``None`` where it is refused (a 4xx: hosted APIs
        need not offer every route)."""
        answers = {}
        for base in dict.fromkeys(self._bases):
            try:
                answers[base] = self._send(path, None, False, base)
            except ServerRefused:
                answers[base] = None
        return answers

    def _send(
        self, path: str, body: dict[str, Any] | None, root: bool, base: str | None = None, parse: bool = True
    ) -> Any:
        problem = ""
        for attempt in range(self.retries + 1):
            server = base or self.next_url()
            url = (server.removesuffix("/v1") if root else server) + path
            wait = _backoff(attempt)
            with self.slots:
                try:
                    if body is not None:
                        response = self.client.request("POST", url, body=orjson.dumps(body), headers=self._headers)
                    else:
                        response = self.client.request("GET", url)
                except (urllib3.exceptions.HTTPError, OSError) as exc:  # refused, reset, timed out: try again
                    problem = f"{type(exc).__name__} from {url}"
                else:
                    if response.status < 400:
                        self.cause = ""
                        return parse_json(response.data, url) if parse else response.data
                    text = response.data.decode("utf-8", "replace")
                    problem = f"HTTP {response.status} from {url}: {self.redacted(text[:300])}"
                    self.cause = known_cause(text) or self.cause
                    if not _worth_retrying(response.status):
                        raise ServerRefused(f"the server refused the request: {problem}")
                    wait = _retry_after(response) or wait
            if attempt < self.retries:
                with self._lock:
                    self.retried += 1
                note_retry()
                time.sleep(wait)
        raise ServerError(
            f"the server kept failing after {self.retries + 1} attempts ({problem}){self.cause}; rerun to retry"
        )

    def redacted(self, text: str) -> str:
        """``text`` without the key: servers' error bodies sometimes echo the request's headers, and error
        messages end up in the run store and on the terminal."""
        return text.replace(self._key, "[key redacted]") if self._key else text

    def close(self) -> None:
        self.client.clear()


def _pool(url: str, **options: Any) -> urllib3.PoolManager:
    """Connections to the servers, through the proxy the environment names for ``url`` (``HTTPS_PROXY``,
    ``HTTP_PROXY``, ``NO_PROXY``), as httpx and the OpenAI SDK do: a hosted judge behind a company proxy."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


def _worth_retrying(status: int) -> bool:
    return status in RETRIED_STATUS or (status >= 500 and status != 501)


def _backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter: retries of many clients do not arrive together."""
    return random.uniform(0, min(cap, base * 2**attempt))


def _retry_after(response: urllib3.BaseHTTPResponse) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date), capped at five minutes."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), 300.0)


def parse_json(content: bytes, source: str) -> Any:
    """An answer as JSON. orjson first (fast); the standard parser reads what orjson refuses (``NaN``, which
    some servers write, and which the score checks then report)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(content)
    except ValueError as exc:
        raise ServerError(f"the answer from {source} is not JSON") from exc
