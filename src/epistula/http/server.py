"""The uvicorn server for ``epistula serve``: connection limits and timeouts from settings.

uvicorn bounds concurrent connections (``limit_concurrency``: 503 beyond it) and idle
keep-alive connections (``timeout_keep_alive``), but not the time a client may take to
send a request's headers: a slow-loris client sending one byte at a time holds its
connection forever. :class:`GuardedH11Protocol` closes a connection whose request line
and headers are not complete ``timeout_request_headers`` seconds after it became ready
for a request (on connect, and after each response). The body's own deadline is
``timeout_request_body``, enforced where the body is read (``api/request.py``).
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from epistula.config import Settings


class ServerConfig(uvicorn.Config):
    """``uvicorn.Config`` plus the header deadline its protocol enforces."""

    def __init__(self, app: Any, *, timeout_request_headers: float, **kwargs: Any) -> None:
        super().__init__(app, http=GuardedH11Protocol, **kwargs)
        self.timeout_request_headers = timeout_request_headers


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers."""

    _header_timer: asyncio.TimerHandle | None = None

    def _deadline(self) -> float | None:
        value = getattr(self.config, "timeout_request_headers", None)
        return float(value) if value else None

    def _arm(self) -> None:
        self._disarm()
        deadline = self._deadline()
        if deadline is not None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(deadline, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the headers are in; the app now owns the request

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE:
            self._arm()  # waiting for the next request on this connection


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> ServerConfig:
    """The server configuration for ``app`` (``overrides``: other ``uvicorn.Config`` options)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "limit_concurrency": settings.limit_concurrency,
        "timeout_keep_alive": settings.timeout_keep_alive,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "log_level": "warning",
        "access_log": False,
        "log_config": None,
    }
    options.update(overrides)
    return ServerConfig(app, timeout_request_headers=settings.timeout_request_headers, **options)


class Server(uvicorn.Server):
    """uvicorn's server that, once the app has started, moves every object then alive
    (modules, pydantic schemas, the app's services) into the garbage collector's permanent
    generation. A full collection stops the whole process, event loop included, for as
    long as it takes to traverse every tracked object: 110-160 ms on the loaded 2-core
    development machine for a started server, which ``/health`` waited for; frozen, it
    traverses only what requests have left behind since. (No collection first: it would
    stop the just-opened server as long; the startup's own garbage stays, once.)"""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        gc.freeze()
