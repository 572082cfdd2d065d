"""A lean HTTP/1.1 client for one thing: ``POST`` a JSON body, read an SSE answer.

Generation streams are the remote engine's hot path: one upstream event per token per
stream. Through httpx every event crossed httpx, httpcore and anyio (a cancel scope and a
timeout per read, several generator layers per line), about 170 us of CPU per event on
the development machine; here an :class:`asyncio.Protocol` decodes the chunked body and
cuts ``data:`` lines straight from the socket buffer, and the consumer wakes once per
read, whatever number of events it brought (about a fifth of that).

Connections are kept alive and reused (:class:`Pool`); one that broke, was cut off mid
answer or was asked to close is dropped. Every wait is bounded: connecting by the connect
timeout, each wait for more bytes by the read timeout (one timer per connection, re-armed
lazily, so no per-read timeout object).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_ERROR_BODY = 4096
PAUSE_AT = 512
"""Events waiting for the consumer before the socket stops being read."""


class WireError(Exception):
    """The exchange failed; ``status`` is set when the server answered with an error,
    ``fresh`` when nothing of an answer came on a reused connection (safe to retry)."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "", fresh: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail
        self.fresh = fresh


class _Connection(asyncio.Protocol):
    """One keep-alive connection, parsing one response at a time into ``data:`` payloads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self._loop = loop
        self._read_timeout = read_timeout
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._lines = bytearray()
        self._state = "head"  # head, body, done
        self.status = 0
        self.keep_alive = True
        self._chunked = False
        self._remaining = -1  # body bytes left (Content-Length), -1: until close
        self._chunk_left = 0  # chunked: data bytes left in the current chunk
        self._error_body = bytearray()
        self.received = False
        self.events: deque[bytes] = deque()
        self.failure: WireError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._paused = False

    @property
    def done(self) -> bool:
        return self._state == "done"

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._last = self._loop.time()
        self.received = True
        self._buf += data
        try:
            self._parse()
        except WireError as exc:
            self._fail(exc)
            return
        if len(self.events) >= PAUSE_AT and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        if self._state == "body" and not self._chunked and self._remaining < 0:
            self._end_body()  # a body delimited by the close
        self._close_marks("the connection was closed")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._close_marks(f"the connection was lost ({exc!r})" if exc else "the connection was closed")

    def _close_marks(self, why: str) -> None:
        self.closed = True
        if self._state != "done" and self.failure is None:
            self.failure = WireError(why, fresh=not self.received)
        self._wake()

    # -- parsing -----------------------------------------------------------

    def _parse(self) -> None:
        while self._buf:
            if self._state == "head":
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEAD:
                        raise WireError("response head too long")
                    return
                self._head(bytes(self._buf[:end]).decode("latin-1"))
                del self._buf[: end + 4]
            elif self._state == "body":
                if not self._body_step():
                    return
            else:
                raise WireError("bytes after the end of the response")

    def _head(self, head: str) -> None:
        status_line, *headers = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise WireError(f"not an HTTP/1.x response: {status_line[:80]!r}")
        self.status = int(parts[1])
        self.keep_alive = parts[0] == "HTTP/1.1"
        for line in headers:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "transfer-encoding":
                self._chunked = "chunked" in value
            elif name == "content-length" and value.isdigit():
                self._remaining = int(value)
            elif name == "connection":
                self.keep_alive = (self.keep_alive and "close" not in value) or "keep-alive" in value
        if self._chunked:
            self._remaining = -1
        if 100 <= self.status < 200:  # an interim answer: the real head follows
            self._chunked, self._remaining = False, -1
            return
        self._state = "body"
        if self._remaining == 0 and not self._chunked:
            self._end_body()
        if self._remaining < 0 and not self._chunked:
            self.keep_alive = False

    def _body_step(self) -> bool:
        """Consume what the buffer holds of the body; False when more bytes are needed."""
        buf = self._buf
        if not self._chunked:
            take = len(buf) if self._remaining < 0 else min(len(buf), self._remaining)
            self._content(bytes(buf[:take]))
            del buf[:take]
            if self._remaining > 0:
                self._remaining -= take
                if self._remaining == 0:
                    self._end_body()
            return bool(buf)
        if self._chunk_left > 0:
            take = min(len(buf), self._chunk_left)
            self._content(bytes(buf[:take]))
            del buf[:take]
            self._chunk_left -= take
            if self._chunk_left:
                return False
            self._chunk_left = -2  # the CRLF after the data
        if self._chunk_left == -2:
            if len(buf) < 2:
                return False
            del buf[:2]
            self._chunk_left = 0
        end = buf.find(b"\r\n")
        if end < 0:
            return False
        size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise WireError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", end)  # no trailers: right at ``end``
            if trailer_end < 0:
                return False
            del buf[: trailer_end + 4]
            self._end_body()
            return bool(buf)
        del buf[: end + 2]
        self._chunk_left = size
        return True

    def _content(self, data: bytes) -> None:
        if self.status != 200:
            if len(self._error_body) < MAX_ERROR_BODY:
                self._error_body += data[: MAX_ERROR_BODY - len(self._error_body)]
            return
        lines = self._lines
        lines += data
        start = 0
        while (newline := lines.find(b"\n", start)) >= 0:
            line = bytes(lines[start:newline]).rstrip(b"\r")
            start = newline + 1
            if line.startswith(b"data:"):
                self.events.append(line[5:].strip())
            elif line.startswith(b"error:"):
                raise WireError(f"error event: {line[6:].strip()[:300].decode('utf-8', 'replace')}")
        if start:
            del lines[:start]

    def _end_body(self) -> None:
        self._state = "done"
        if self.status != 200:
            detail = bytes(self._error_body)[:300].decode("utf-8", errors="replace")
            self.failure = WireError(f"answered {self.status}: {detail}", status=self.status, detail=detail)

    # -- waiting -----------------------------------------------------------

    def _fail(self, exc: WireError) -> None:
        if self.failure is None:
            self.failure = exc
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check_idle(self) -> None:
        self._timer = None
        if self._waiter is None or self._waiter.done():
            return
        late = self._last + self._read_timeout
        if self._loop.time() >= late - 0.001:
            self._fail(WireError("stream timed out (no data within the read timeout)"))
        else:
            self._timer = self._loop.call_at(late, self._check_idle)

    async def _wait(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        self._waiter = self._loop.create_future()
        if self._timer is None:
            self._timer = self._loop.call_at(self._last + self._read_timeout, self._check_idle)
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def events_of(self, request: bytes) -> AsyncGenerator[bytes]:
        """Send ``request``; the ``data:`` payloads of its answer. Raises :class:`WireError`."""
        assert self.transport is not None
        if self._paused:  # the last answer ended with its events still queued
            self.transport.resume_reading()
        self._reset()
        self._last = self._loop.time()
        self.transport.write(request)
        try:
            while True:
                events = self.events
                while events:
                    yield events.popleft()
                if self.failure is not None:
                    raise self.failure
                if self._state == "done":
                    return
                await self._wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    @property
    def reusable(self) -> bool:
        return self._state == "done" and self.failure is None and self.keep_alive and not self.closed

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections to one server (``http://`` or ``https://``)."""

    def __init__(self, url: str, *, connect_timeout: float, read_timeout: float, max_idle: int = 256) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = parts.port is None or parts.port == (443 if parts.scheme == "https" else 80)
        self._host_header = parts.netloc.rpartition("@")[2] if not default_port else self._host
        self._prefix = parts.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if parts.scheme == "https" else None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_idle = max_idle
        self._idle: list[_Connection] = []
        self.opened = 0
        """Connections opened so far (the rest of the requests reused one)."""

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop, self._read_timeout), self._host, self._port, ssl=self._ssl
                )
        except TimeoutError:
            raise WireError(f"connect: no connection within {self._connect_timeout} s", fresh=True) from None
        except OSError as exc:
            raise WireError(f"connect: {exc!r}", fresh=True) from exc
        self.opened += 1
        return conn

    def _request(self, path: str, body: dict[str, Any]) -> bytes:
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {self._prefix}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode("latin-1") + payload

    async def sse(self, path: str, body: dict[str, Any]) -> AsyncGenerator[bytes]:
        """``POST`` ``body`` as JSON; the ``data:`` payloads of the 200 answer.

        Raises :class:`WireError` (with ``status`` for an error answer). A reused
        connection that the server had closed meanwhile is replaced once, transparently.
        Closing the iterator early drops the connection: the server sees the client go."""
        request = self._request(path, body)
        while True:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            if conn.closed:
                continue
            events = conn.events_of(request)
            keep = False
            try:
                async for data in events:
                    yield data
                keep = conn.reusable and len(self._idle) < self._max_idle
                return
            except WireError as exc:
                if reused and exc.fresh:
                    continue  # the server closed the idle connection as we reused it
                raise
            finally:
                await events.aclose()
                if keep:
                    self._idle.append(conn)
                else:
                    conn.close()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
