"""``POST /v1/messages`` (JSON or SSE) and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from epistula.auth.keys import Principal
from epistula.citations import with_citations
from epistula.files.service import resolve_file_documents
from epistula.gate import Admission, Gate, metered
from epistula.generation.accumulate import accumulate_async
from epistula.generation.pipeline import MessageRun, PreparedMessage
from epistula.generation.prepare import prepare_message, tokenize_prompt
from epistula.protocol.messages import MessageCountTokensParams, MessageCreateParams, MessageTokensCount
from epistula.protocol.streaming import RawMessageStreamEvent
from epistula.validation import check_version_rules

from ..request import api_version, app_state, authenticate, parse, read_json
from ..sse import sse_stream

T = TypeVar("T")


async def create_message(request: Request) -> Response:
    state = app_state(request)
    settings = state.settings
    principal = authenticate(request)
    version = api_version(request)
    raw = await read_json(request, settings.max_body_bytes)
    check_version_rules(raw, version)
    params = parse(MessageCreateParams, raw)
    params = await resolve_file_documents(params, state.files, principal.workspace_id)
    prepared = prepare_message(
        params, state.catalog, version=version, cache_namespace=principal.workspace_id, signer=state.signer
    )
    generation = await start_generation(request, principal, params, prepared)
    if params.stream:
        stream = sse_stream(
            generation.events, request_id=request.state.request_id, ping_interval=settings.ping_interval
        )
        return ClosingStreamingResponse(
            stream,
            on_close=generation.close,
            media_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **generation.headers},
        )
    try:
        message = await unless_disconnected(request, accumulate_async(generation.events))
    finally:
        await generation.close()
    if message is None:  # nobody is listening any more
        return Response(status_code=499)
    return JSONResponse(message.model_dump(mode="json"), headers=generation.headers)


@dataclass(slots=True)
class Generation:
    """An admitted, running generation: its metered events and the gate's response headers."""

    events: AsyncGenerator[RawMessageStreamEvent]
    run: MessageRun
    headers: dict[str, str]
    gate: Gate
    admission: Admission

    async def close(self) -> None:
        """Idempotent. Also right when the events were never iterated (a client gone
        before the body started): the engine stops and the gate still hears the end."""
        await self.events.aclose()
        await self.run.close()
        await self.gate.finish(self.admission, None, "canceled")

    async def translated(self, feed: Callable[[RawMessageStreamEvent], Iterable[T]]) -> AsyncGenerator[T]:
        """The events as another API's stream (``feed`` maps each event to zero or more
        items); finishing or closing it closes the generation."""
        try:
            async for event in self.events:
                for item in feed(event):
                    yield item
        finally:
            await self.close()


async def start_generation(
    request: Request, principal: Principal, params: MessageCreateParams, prepared: PreparedMessage
) -> Generation:
    """Admit ``prepared`` at the gate and start it in the engine. Shared with the endpoints
    that translate other request shapes (``/v1/complete``, ``/v1/chat/completions``), so limits,
    usage and metrics apply to them exactly as to ``/v1/messages``."""
    state = app_state(request)
    served = state.catalog.resolve(params.model)
    admission = await state.gate.admit(
        Admission(
            request_id=request.state.request_id,
            principal=principal,
            model=served.id,
            input_tokens=len(prepared.prompt),
            max_tokens=params.max_tokens,
        )
    )
    run = MessageRun(served.engine, prepared, first_event_wait=state.settings.first_event_wait, sign=state.signer.sign)
    try:
        await run.open()
    except BaseException:
        await state.gate.finish(admission, None, "errored")
        raise
    # Citations re-cut the text first; metering then sees exactly what the client gets.
    events = metered(with_citations(run.events(), params), state.gate, admission)
    return Generation(events=events, run=run, headers=admission.headers, gate=state.gate, admission=admission)


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


async def count_tokens(request: Request) -> Response:
    state = app_state(request)
    principal = authenticate(request)
    version = api_version(request)
    raw = await read_json(request, state.settings.max_body_bytes)
    check_version_rules(raw, version)
    params = parse(MessageCountTokensParams, raw)
    params = await resolve_file_documents(params, state.files, principal.workspace_id)
    prompt = tokenize_prompt(params, state.catalog)
    return JSONResponse(MessageTokensCount(input_tokens=len(prompt.ids)).model_dump())
