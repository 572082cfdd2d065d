"""``POST /v1/messages`` (JSON or SSE) and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from epistula.generation.accumulate import accumulate_async
from epistula.generation.pipeline import MessageRun
from epistula.generation.prepare import prepare_message, tokenize_prompt
from epistula.protocol.messages import MessageCountTokensParams, MessageCreateParams, MessageTokensCount
from epistula.validation import check_version_rules

from ..request import api_version, app_state, authenticate, parse, read_json
from ..sse import sse_stream


async def create_message(request: Request) -> Response:
    state = app_state(request)
    settings = state.settings
    principal = authenticate(request)
    version = api_version(request)
    raw = await read_json(request, settings.max_body_bytes)
    check_version_rules(raw, version)
    params = parse(MessageCreateParams, raw)
    prepared = prepare_message(
        params, state.catalog, version=version, cache_namespace=principal.workspace_id, signer=state.signer
    )
    engine = state.catalog.resolve(params.model).engine
    run = MessageRun(engine, prepared, first_event_wait=settings.first_event_wait, sign=state.signer.sign)
    await run.open()
    if params.stream:
        stream = sse_stream(
            run.events(), request_id=request.state.request_id, ping_interval=settings.ping_interval
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
    try:
        message = await accumulate_async(run.events())
    finally:
        await run.close()
    return JSONResponse(message.model_dump(mode="json"))


async def count_tokens(request: Request) -> Response:
    state = app_state(request)
    authenticate(request)
    version = api_version(request)
    raw = await read_json(request, state.settings.max_body_bytes)
    check_version_rules(raw, version)
    params = parse(MessageCountTokensParams, raw)
    prompt = tokenize_prompt(params, state.catalog)
    return JSONResponse(MessageTokensCount(input_tokens=len(prompt.ids)).model_dump())
