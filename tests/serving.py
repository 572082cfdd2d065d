"""A test double's HTTP server running on a thread of its own for a ``with`` block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import HTTPServer


@contextmanager
def serving_in_thread(server: HTTPServer) -> Iterator[int]:
    """Serve ``server`` on a daemon thread; yield its port; shut it down and close it on exit."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
