"""``POST /v1/messages`` (JSON or SSE) and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.api.callers import authorized
from epistula.api.operations import Api
from epistula.api.request import app_state, read_params
from epistula.api.responses import event_stream, folded
from epistula.api.sse import sse_stream
from epistula.generation.compat import note_betas
from epistula.generation.service import MessageRequest
from epistula.protocol.messages import Message, MessageCountTokensParams, MessageCreateParams, MessageTokensCount

API = Api("messages")


@API.generation("/v1/messages", "messages_create", MessageCreateParams, Message)
async def create_message(request: Request) -> Response:
    """Create a message"""
    state = app_state(request)
    principal, version = await authorized(request)
    note_betas(request.headers.get("anthropic-beta"))
    params = await read_params(request, MessageCreateParams, version=version)
    request_id = request.state.request_id
    generation = await state.messages.start(MessageRequest(params, principal, version, request_id))
    if params.stream:
        body = sse_stream(generation.events, request_id=request_id, ping_interval=state.settings.ping_interval)
        return event_stream(generation, body, generation.headers)
    return await folded(request, generation, lambda message: message, generation.headers)


@API.post(
    "/v1/messages/count_tokens",
    "messages_count_tokens",
    request=MessageCountTokensParams,
    response=MessageTokensCount,
    errors=(404,),
)
async def count_tokens(request: Request) -> Response:
    """Count the input tokens of a Messages request"""
    state = app_state(request)
    principal, version = await authorized(request)
    note_betas(request.headers.get("anthropic-beta"))
    params = await read_params(request, MessageCountTokensParams, version=version)
    count, headers = await state.messages.count_tokens(params, principal, request.state.request_id)
    return JSONResponse(count.model_dump(mode="json"), headers=headers)  # with the token_count limits
