"""The only module that writes ``event:``/``data:`` text, for every API.

A :class:`Framing` says how one API frames its stream: the Anthropic APIs name each
event (``event: <type>``) and end with the last event; OpenAI's chat completions send
bare ``data:`` frames and end with ``data: [DONE]``.

Pings keep the connection alive while nothing else is sent (a long prefill); a
failure after the 200 becomes an ``event: error`` and the stream ends.

Streaming runs once per generated token for every open stream, on the same event
loop (and under the same GIL) as the engine's hand-off of the next batch, so the
per-event path is kept short: one long-lived pump task reads the event stream
into an outbox and a single repeating timer sends the pings, instead of a new
task, waiter and timeout per event; text deltas, the bulk of every stream, are
encoded from a template rather than through ``model_dump``; and events that are
ready together go out in one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from epistula.api.errors import envelope, to_api_error
from epistula.protocol.streaming import ErrorEvent, PingEvent, RawContentBlockDeltaEvent, TextDelta

_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":%s}}\n\n'
)


def encode(event: BaseModel) -> bytes:
    """One SSE frame: ``event: <type>`` and the event as compact JSON (non-ASCII kept)."""
    if type(event) is RawContentBlockDeltaEvent and type(event.delta) is TextDelta:
        # Byte-identical to the generic path below (tests/unit/test_sse.py checks it).
        return _TEXT_DELTA % (event.index, json.dumps(event.delta.text, ensure_ascii=False).encode())
    data = event.model_dump(mode="json", by_alias=True)
    if data.get("type") == "error":
        data = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    return f"event: {data['type']}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


PING = encode(PingEvent())


def _error_event(exc: Exception, request_id: str) -> bytes:
    error = envelope(to_api_error(exc), request_id)
    return encode(ErrorEvent(error=error.error, request_id=request_id))


@dataclass(frozen=True, slots=True)
class Framing:
    """How one API writes its stream."""

    encode: Callable[[BaseModel], bytes]
    error: Callable[[Exception, str], bytes]
    """The frame for a failure after the 200 (the stream then ends)."""
    keepalive: bytes
    """Sent whenever ``ping_interval`` passes without a frame."""
    done: bytes = b""
    """Written after the last event of a stream that ended normally."""
    ping_after_first_block: bool = False
    """The Messages API sends a ``ping`` right after the first ``content_block_start``."""


ANTHROPIC = Framing(encode=encode, error=_error_event, keepalive=PING, ping_after_first_block=True)


class _Outbox:
    """Encoded frames waiting for the response writer, and whether the stream is over."""

    __slots__ = ("closed", "frames", "last_put", "waiter")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed = False
        self.last_put = 0.0
        self.waiter: asyncio.Future[None] | None = None

    def put(self, frame: bytes, now: float) -> None:
        self.frames.append(frame)
        self.last_put = now
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self) -> bytes:
        """Everything queued so far as one chunk (``b""`` once closed and empty)."""
        while not self.frames and not self.closed:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        frames, self.frames = self.frames, []
        return b"".join(frames)


async def _pump(events: AsyncIterator[BaseModel], outbox: _Outbox, request_id: str, framing: Framing) -> None:
    """Encode every event into ``outbox``."""
    loop = asyncio.get_running_loop()
    encode_event = framing.encode
    pinged = not framing.ping_after_first_block
    try:
        async for event in events:
            outbox.put(encode_event(event), loop.time())
            if not pinged and getattr(event, "type", None) == "content_block_start":
                pinged = True
                outbox.put(framing.keepalive, loop.time())
        if framing.done:
            outbox.put(framing.done, loop.time())
    except Exception as exc:
        outbox.put(framing.error(exc, request_id), loop.time())
    finally:
        outbox.close()


async def sse_stream(
    events: AsyncIterator[BaseModel], *, request_id: str, ping_interval: float, framing: Framing = ANTHROPIC
) -> AsyncIterator[bytes]:
    """Encode events; send a ping after the first content block start and whenever
    ``ping_interval`` seconds pass without an event.

    Closing this iterator (the client went away) cancels the pump, which closes
    ``events`` and so cancels generation.
    """
    loop = asyncio.get_running_loop()
    outbox = _Outbox()
    outbox.last_put = loop.time()
    pump = asyncio.ensure_future(_pump(events, outbox, request_id, framing))
    timer: asyncio.TimerHandle | None = None

    def idle_check() -> None:
        nonlocal timer
        now = loop.time()
        if now - outbox.last_put >= ping_interval - 0.001 and not outbox.closed:  # timers may fire a hair early
            outbox.put(framing.keepalive, now)
        timer = loop.call_at(outbox.last_put + ping_interval, idle_check)

    if ping_interval > 0:
        timer = loop.call_at(outbox.last_put + ping_interval, idle_check)
    try:
        while chunk := await outbox.take():
            yield chunk
    finally:
        if timer is not None:
            timer.cancel()
        if not pump.done():
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
