"""``/console``: the web console's static files (package data of :mod:`epistula.console`).

Only files are served here; everything the console shows or changes goes through the
public HTTP API (the Admin API with the admin key the user typed in, ``/metrics``, and
the Messages API with a workspace key), so the console has no private back door.

Every file goes out with a strict Content-Security-Policy: scripts, styles, images and
``fetch`` only from this origin, no inline code, no framing, no form posts, so that a
bug that let text into the page could neither run code nor send a key anywhere else.
Content types come from a fixed table, not the host's ``mimetypes`` database, which
differs between systems (ES modules must be served as JavaScript).
"""

from __future__ import annotations

import os
from pathlib import PurePath

from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from epistula.console import PACKAGE, STATIC_DIR

PREFIX = "/console"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-cache",
}
"""``no-cache``: browsers revalidate (cheap 304s by ETag), so an upgraded server never
runs an old console against a newer API."""

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


class ConsoleFiles(StaticFiles):
    """StaticFiles (ETags, conditional requests, no path traversal) with the console's
    headers and content types."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if response.status_code != 304 and (media_type := MEDIA_TYPES.get(PurePath(full_path).suffix)):
            response.headers["content-type"] = media_type
        response.headers.update(SECURITY_HEADERS)
        return response


def routes() -> list[Mount]:
    """``/console/`` and its assets; ``/console`` is redirected there by the router."""
    return [Mount(PREFIX, app=ConsoleFiles(packages=[(PACKAGE, STATIC_DIR)], html=True), name="console")]
