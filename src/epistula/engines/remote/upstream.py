"""One upstream inference server: its health, its load, and one generation stream from it.

Every network wait is bounded: connecting by ``connect_timeout``, and each wait for the
next bytes of a stream by ``read_timeout`` (llama-server sends prefill progress, so a
long prompt keeps its stream alive). A stream that goes quiet longer than that, a
dropped connection, or an event the dialect cannot read raise :class:`UpstreamFailed`;
an HTTP error status raises it with ``status`` set (a 4xx is the request's fault, and
is not retried elsewhere).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from epistula.engines.remote.dialects import Chunk, Dialect, UpstreamProtocolError
from epistula.engines.remote.wire import Pool, WireError

log = logging.getLogger(__name__)


class UpstreamFailed(Exception):
    """The upstream could not be reached, answered with an error, or broke off."""

    def __init__(self, upstream: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"upstream {upstream}: {message}")
        self.status = status

    @property
    def client_error(self) -> bool:
        """A 4xx: the upstream refused this request itself (another would too)."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429


class Upstream:
    """An upstream server of one :class:`~epistula.engines.remote.dialects.Dialect`."""

    def __init__(
        self,
        url: str,
        dialect: Dialect,
        *,
        model: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retry_after: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.dialect = dialect
        self.model = model
        self.in_flight = 0
        self.healthy = True
        self.served = 0
        self.last_served = -math.inf
        """``time.monotonic()`` when a generation from it last ended well."""
        self.failures = 0
        self._down_until = 0.0
        self._retry_after = retry_after
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout, limits=limits)
        self._streams = Pool(self.url, connect_timeout=connect_timeout, read_timeout=read_timeout)
        """Generation streams (the per-token hot path) bypass httpx: see :mod:`.wire`."""

    @property
    def connections_opened(self) -> int:
        """Generation connections opened so far (every other stream reused one)."""
        return self._streams.opened

    def __repr__(self) -> str:
        return f"Upstream({self.url!r}, {self.dialect.name})"

    @property
    def available(self) -> bool:
        """Healthy, or down long enough ago to be worth another try."""
        return self.healthy or time.monotonic() >= self._down_until

    def mark_down(self, reason: str) -> None:
        if self.healthy:
            log.warning("upstream %s marked down: %s", self.url, reason)
        self.healthy = False
        self.failures += 1
        self._down_until = time.monotonic() + self._retry_after

    def mark_up(self) -> None:
        if not self.healthy:
            log.info("upstream %s is back", self.url)
        self.healthy = True

    async def close(self) -> None:
        self._streams.close()
        await self._client.aclose()

    # -- control requests -------------------------------------------------

    async def check_health(self) -> bool:
        """``GET`` the health path; marks the upstream up or down."""
        try:
            response = await self._client.get(self.dialect.health_path)
        except httpx.HTTPError as exc:
            self.mark_down(f"health check failed: {exc!r}")
            return False
        if response.status_code != 200:
            self.mark_down(f"health check answered {response.status_code}")
            return False
        self.mark_up()
        return True

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise UpstreamFailed(self.url, f"{method} {path}: {exc!r}") from exc
        if response.status_code != 200:
            raise UpstreamFailed(
                self.url, f"{method} {path} answered {response.status_code}", status=response.status_code
            )
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamFailed(self.url, f"{method} {path}: not JSON") from exc

    async def tokenize(self, text: str) -> list[int]:
        data = await self._json("POST", self.dialect.tokenize_path, self.dialect.tokenize_body(text, self.model))
        try:
            return self.dialect.tokens_of(data)
        except UpstreamProtocolError as exc:
            raise UpstreamFailed(self.url, f"tokenize: {exc}") from exc

    async def context_window(self) -> int | None:
        """The upstream's context window per sequence, where it tells."""
        try:
            return self.dialect.context_window(await self._json("GET", self.dialect.info_path))
        except UpstreamFailed:
            return None

    # -- generation -------------------------------------------------------

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[Chunk]:
        """The chunks of one generation; closing the iterator drops the connection
        (llama-server, vLLM and SGLang all abort a request whose client went away)."""
        events = self._streams.sse(self.dialect.generate_path, body)
        parse = self.dialect.parse
        try:
            async for data in events:
                if data == b"[DONE]":
                    continue  # the body ends right after it; read on to keep the connection
                try:
                    payload = json_object(data)
                except ValueError as exc:
                    raise UpstreamFailed(self.url, f"unreadable event {data[:80]!r}") from exc
                if "error" in payload:
                    raise UpstreamFailed(self.url, f"error event: {json.dumps(payload['error'])[:300]}")
                try:
                    yield parse(payload)
                except UpstreamProtocolError as exc:
                    raise UpstreamFailed(self.url, str(exc)) from exc
        except WireError as exc:
            raise UpstreamFailed(self.url, str(exc), status=exc.status) from exc
        finally:
            await events.aclose()


_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def json_object(data: bytes) -> dict[str, Any]:
    """One event's JSON object: ``json.loads`` without its Python layers (encoding
    detection, two wrappers), which cost a third of the parse on one-token events.
    Raises ``ValueError`` for anything but exactly one JSON object (``data`` is stripped)."""
    text = data.decode()
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text) or not isinstance(value, dict):
        raise ValueError("not one JSON object")
    return value
