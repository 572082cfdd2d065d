"""``POST /v1/chat/completions``: the OpenAI-compatible endpoint, as a translation onto
the Messages pipeline (same validation, gate, limits, usage and engine as ``/v1/messages``).

The OpenAI SDK sends its key as ``Authorization: Bearer`` and no ``anthropic-version``;
every error from this route, before or after the stream starts, is in OpenAI's shape.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.generation.accumulate import accumulate_async
from epistula.generation.prepare import prepare_message
from epistula.openai_compat.chunks import ChunkStream
from epistula.openai_compat.errors import openai_error
from epistula.openai_compat.headers import openai_headers
from epistula.openai_compat.protocol import ChatCompletionCreateParams
from epistula.openai_compat.request import message_params
from epistula.openai_compat.response import chat_completion, completion_id, created_now
from epistula.openai_compat.sse import chunk_sse

from ..errors import error_headers, to_api_error
from ..request import app_state, authenticate, parse, read_json
from .messages import ClosingStreamingResponse, start_generation, unless_disconnected

API_VERSION = "2023-06-01"
"""The Messages API version the translated request is validated under (one that still
has the sampling parameters OpenAI clients send)."""


async def create_chat_completion(request: Request) -> Response:
    try:
        return await _create(request)
    except Exception as exc:
        error = to_api_error(exc)
        return JSONResponse(
            openai_error(error).model_dump(mode="json"),
            status_code=error.status,
            headers=openai_headers(error_headers(error), request_id=request.state.request_id),
        )


def _error_chunk(exc: Exception) -> BaseModel:
    return openai_error(to_api_error(exc))


async def _create(request: Request) -> Response:
    state = app_state(request)
    settings = state.settings
    principal = authenticate(request)
    raw = await read_json(request, settings.max_body_bytes)
    params = parse(ChatCompletionCreateParams, raw)
    served = state.catalog.resolve(params.model)
    translated = message_params(params, default_max_tokens=min(served.max_output_tokens, served.context_window))
    prepared = prepare_message(
        translated, state.catalog, version=API_VERSION, cache_namespace=principal.workspace_id, signer=state.signer
    )
    generation = await start_generation(request, principal, translated, prepared)
    headers = openai_headers(generation.headers, request_id=request.state.request_id)
    chat_id, created = completion_id(), created_now()
    if params.stream:
        include_usage = bool(params.stream_options and params.stream_options.include_usage)
        stream = ChunkStream(id=chat_id, created=created, model=params.model, include_usage=include_usage)
        return ClosingStreamingResponse(
            content=chunk_sse(
                generation.translated(stream.feed), error_frame=_error_chunk, ping_interval=settings.ping_interval
            ),
            on_close=generation.close,
            media_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **headers},
        )
    try:
        message = await unless_disconnected(request, accumulate_async(generation.events))
    finally:
        await generation.close()
    if message is None:  # nobody is listening any more
        return Response(status_code=499)
    return JSONResponse(chat_completion(message, id=chat_id, created=created).model_dump(mode="json"), headers=headers)
