"""Local HTTP servers for the web fetch and web search tests: plain ``http.server`` on
loopback addresses, counting the requests they answer (a refused fetch must send none)."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from serving import serving_in_thread

Route = Callable[[dict[str, list[str]]], tuple[int, dict[str, str], bytes]]

PAGE = (
    b"<html><head><title>The Test Page</title><script>var secret = 1;</script></head>"
    b"<body><h1>Hello</h1><p>First   paragraph.</p><p>Second &amp; last.</p></body></html>"
)


@dataclass
class Site:
    """One local server: ``routes`` by path, ``hits`` by path."""

    host: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    port: int = 0

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            site.hits[parts.path] += 1
            route = site.routes.get(parts.path)
            status, headers, body = route(parse_qs(parts.query)) if route else (404, {}, b"not here")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a fetch past its time limit) is expected here."""


@contextlib.contextmanager
def serving(site: Site) -> Iterator[Site]:
    server = _QuietServer((site.host, 0), _handler(site))
    with serving_in_thread(server) as port:
        site.port = port
        yield site


def _slow(query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
    time.sleep(3)
    return 200, {"Content-Type": "text/plain"}, b"late"


def _redirect(query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
    return 302, {"Location": query["to"][0]}, b""


ROUTES: dict[str, Route] = {
    "/page": lambda q: (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE),
    "/latin": lambda q: (200, {"Content-Type": "text/plain; charset=latin-1"}, "caf\xe9".encode("latin-1")),
    "/big": lambda q: (200, {"Content-Type": "text/plain"}, b"x" * 20_000),
    "/image": lambda q: (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n"),
    "/pdf": lambda q: (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 tiny"),
    "/slow": _slow,
    "/redirect": _redirect,
    "/say": lambda q: (200, {"Content-Type": "text/plain"}, b"#say:The page says hello."),
}


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """The site on 127.0.0.1 (``localhost``)."""
    with serving(Site("127.0.0.1", dict(ROUTES))) as running:
        yield running


@pytest.fixture(scope="module")
def other_site() -> Iterator[Site]:
    """A second site on 127.0.0.2: allowed where 127.0.0.1 is not."""
    with serving(Site("127.0.0.2", dict(ROUTES))) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_counts(site: Site, other_site: Site) -> None:
    site.hits.clear()
    other_site.hits.clear()


# ---------------------------------------------------------------- a SearXNG double

RESULTS = [
    {
        "url": "https://docs.example.com/guide",
        "title": "The Guide",
        "content": "How to do the thing.",
        "engine": "duckduckgo",
        "publishedDate": "2025-04-30T00:00:00",
        "score": 2.0,
    },
    {"url": "https://blog.other.org/post", "title": "A Post", "content": "Opinions.", "publishedDate": None},
    {"url": "https://example.com/", "title": "", "content": "Home.", "engine": "bing"},
]


def _search(query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
    q = query["q"][0]
    if q.startswith("say:"):  # one result whose snippet scripts the fake model's next step
        said = [{"url": "https://docs.example.com/guide", "title": "The Guide", "content": "#" + q}]
        return 200, {"Content-Type": "application/json"}, json.dumps({"query": q, "results": said}).encode()
    if q == "ratelimited":
        return 429, {}, b"slow down"
    if q == "broken" or query.get("format") != ["json"]:
        return 200, {"Content-Type": "text/html"}, b"<html>not json</html>"
    body = {"query": q, "number_of_results": len(RESULTS), "results": RESULTS, "answers": [], "suggestions": []}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture(scope="module")
def searxng() -> Iterator[Site]:
    """A double of SearXNG's JSON API."""
    with serving(Site("127.0.0.1", {"/search": _search})) as running:
        yield running
