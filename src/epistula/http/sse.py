"""The only module that writes ``event:``/``data:`` text.

Pings keep the connection alive while nothing else is sent (a long prefill); a
failure after the 200 becomes an ``event: error`` and the stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from pydantic import BaseModel

from epistula.protocol.streaming import ErrorEvent, PingEvent

from .errors import envelope, to_api_error


def encode(event: BaseModel) -> bytes:
    data = event.model_dump(mode="json", by_alias=True)
    if data.get("type") == "error":
        data = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    return f"event: {data['type']}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def sse_stream(
    events: AsyncIterator[BaseModel], *, request_id: str, ping_interval: float
) -> AsyncIterator[bytes]:
    """Encode events; send a ping after the first content block start and whenever
    ``ping_interval`` seconds pass without an event."""
    iterator = aiter(events)
    pinged = False
    pending: asyncio.Future[BaseModel] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=ping_interval)
            if not done:
                yield encode(PingEvent())
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield encode(event)
            if not pinged and getattr(event, "type", None) == "content_block_start":
                pinged = True
                yield encode(PingEvent())
    except Exception as exc:
        error = envelope(to_api_error(exc), request_id)
        yield encode(ErrorEvent(error=error.error, request_id=request_id))
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await iterator.aclose()  # type: ignore[attr-defined]
