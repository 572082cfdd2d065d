"""``POST /v1/chat/completions``: the OpenAI-compatible endpoint, as a translation onto
the Messages pipeline (same validation, gate, limits, usage and engine as ``/v1/messages``).

The OpenAI SDK sends its key as ``Authorization: Bearer`` and no ``anthropic-version``;
every error from this route, before or after the stream starts, is in OpenAI's shape.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.api.errors import error_headers, to_api_error
from epistula.api.operations import Api
from epistula.api.request import app_state, authenticate, read_params
from epistula.api.responses import event_stream, folded
from epistula.api.sse import sse_stream
from epistula.generation.service import MessageRequest

from .chunks import ChunkStream
from .errors import openai_error
from .headers import openai_headers
from .protocol import ChatCompletion, ChatCompletionCreateParams, OpenAIErrorResponse
from .request import message_params
from .response import chat_completion, completion_id, created_now
from .sse import OPENAI

API_VERSION = "2023-06-01"
"""The Messages API version the translated request is validated under (one that still
has the sampling parameters OpenAI clients send)."""

API = Api("openai")


@API.generation(
    "/v1/chat/completions",
    "chat_completions_create",
    ChatCompletionCreateParams,
    ChatCompletion,
    error_model=OpenAIErrorResponse,
    description="For the official OpenAI SDKs: `Authorization: Bearer <key>`, no `anthropic-version`; "
    'errors are OpenAI-shaped (`{"error": {"message", "type", "param", "code"}}`).',
)
async def create_chat_completion(request: Request) -> Response:
    """Create a chat completion (OpenAI-compatible)"""
    try:
        return await _create(request)
    except Exception as exc:
        error = to_api_error(exc)
        return JSONResponse(
            openai_error(error).model_dump(mode="json"),
            status_code=error.status,
            headers=openai_headers(error_headers(error), request_id=request.state.request_id),
        )


async def _create(request: Request) -> Response:
    state = app_state(request)
    principal = await authenticate(request)
    params = await read_params(request, ChatCompletionCreateParams)
    model = state.messages.model(params.model)
    translated = message_params(params, default_max_tokens=min(model.max_output_tokens, model.context_window))
    request_id = request.state.request_id
    generation = await state.messages.start(MessageRequest(translated, principal, API_VERSION, request_id), model)
    headers = openai_headers(generation.headers, request_id=request_id)
    chat_id, created = completion_id(), created_now()
    if params.stream:
        include_usage = bool(params.stream_options and params.stream_options.include_usage)
        stream = ChunkStream(id=chat_id, created=created, model=params.model, include_usage=include_usage)
        body = sse_stream(
            generation.translated(stream.feed),
            request_id=request_id,
            ping_interval=state.settings.ping_interval,
            framing=OPENAI,
        )
        return event_stream(generation, body, headers)
    return await folded(request, generation, lambda m: chat_completion(m, id=chat_id, created=created), headers)
