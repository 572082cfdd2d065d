"""The response tail that every generating endpoint shares: an SSE body that closes the
generation however it ends, or the stream folded into one JSON body (a non-streaming
response is a fold of the same event stream) that stops when the client goes away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from epistula.generation.accumulate import accumulate_async
from epistula.generation.service import Generation
from epistula.protocol.messages import Message

T = TypeVar("T")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class ClosingStreamingResponse(StreamingResponse):
    """A streaming response that runs ``on_close`` however it ends: finished, failed, or
    abandoned before its first byte (when the body generator's own ``finally`` never runs)."""

    def __init__(
        self, content: AsyncIterator[bytes], *, on_close: Callable[[], Awaitable[None]], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._on_close()


def event_stream(generation: Generation, body: AsyncIterator[bytes], headers: dict[str, str]) -> Response:
    """``body`` (SSE bytes made from the generation's events) as a ``text/event-stream``."""
    return ClosingStreamingResponse(
        body,
        on_close=generation.close,
        media_type="text/event-stream; charset=utf-8",
        headers={**SSE_HEADERS, **headers},
    )


async def folded(
    request: Request, generation: Generation, render: Callable[[Message], BaseModel], headers: dict[str, str]
) -> Response:
    """The whole stream folded into one message, rendered as ``render`` says; 499 (nothing
    sent) when the client disconnects first, which also stops the generation."""
    try:
        message = await unless_disconnected(request, accumulate_async(generation.events))
    finally:
        await generation.close()
    if message is None:  # nobody is listening any more
        return Response(status_code=499)
    return JSONResponse(render(message).model_dump(mode="json"), headers=headers)


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """Await ``work``; cancel it and return None if the client disconnects first
    (the body has been read, so the next ASGI message can only be ``http.disconnect``)."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None
