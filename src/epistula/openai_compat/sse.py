"""OpenAI's SSE framing: ``data: <chunk>`` lines, ``data: [DONE]`` at the end.

There are no event names. A failure after the 200 is one ``data: {"error": {...}}``
frame (the OpenAI SDK raises ``APIError`` on it) and the stream ends without ``[DONE]``.
While nothing is sent for ``ping_interval`` seconds (a long prefill) an SSE comment keeps
the connection alive; SSE clients ignore comments.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

from pydantic import BaseModel

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"


def frame(data: BaseModel) -> bytes:
    text = json.dumps(data.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return b"data: " + text.encode() + b"\n\n"


async def chunk_sse(
    chunks: AsyncIterator[BaseModel],
    *,
    error_frame: Callable[[Exception], BaseModel],
    ping_interval: float,
) -> AsyncIterator[bytes]:
    """Encode ``chunks``; closing this iterator (the client went away) closes ``chunks``."""
    pending: asyncio.Future[BaseModel] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(anext(chunks))
            while not pending.done():
                done, _ = await asyncio.wait({pending}, timeout=ping_interval if ping_interval > 0 else None)
                if not done:
                    yield KEEPALIVE
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                break
            except Exception as exc:
                yield frame(error_frame(exc))
                return
            finally:
                pending = None
            yield frame(chunk)
        yield DONE
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await chunks.aclose()  # type: ignore[attr-defined]
