"""``POST /v1/complete``: the legacy Text Completions API, as a translation onto the
Messages pipeline (same validation, gate, limits, usage and engine as ``/v1/messages``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula import ids
from epistula.errors import InvalidRequestError
from epistula.generation.accumulate import accumulate_async
from epistula.generation.prepare import prepare_message
from epistula.text_completions.prompt import message_params, parse_prompt
from epistula.text_completions.protocol import CompletionCreateParams
from epistula.text_completions.translate import CompletionStream, completion_of, leading_text

from ..request import api_version, app_state, authenticate, parse, read_json
from ..sse import sse_stream
from .messages import ClosingStreamingResponse, start_generation, unless_disconnected


async def create_completion(request: Request) -> Response:
    state = app_state(request)
    settings = state.settings
    principal = authenticate(request)
    version = api_version(request)
    raw = await read_json(request, settings.max_body_bytes)
    params = parse(CompletionCreateParams, raw)
    served = state.catalog.resolve(params.model)
    if params.max_tokens_to_sample > served.max_output_tokens:
        raise InvalidRequestError(
            f"max_tokens_to_sample: {params.max_tokens_to_sample} > {served.max_output_tokens}, which is the "
            f"maximum allowed number of output tokens for {params.model}"
        )
    conversation = parse_prompt(params.prompt)
    translated = message_params(params, conversation)
    prepared = prepare_message(
        translated, state.catalog, version=version, cache_namespace=principal.workspace_id, signer=state.signer
    )
    generation = await start_generation(request, principal, translated, prepared)
    completion_id = ids.new_id("compl_")
    lead = leading_text(conversation)
    if params.stream:
        stream = CompletionStream(completion_id=completion_id, model=params.model, lead=lead)
        return ClosingStreamingResponse(
            content=sse_stream(
                generation.translated(stream.feed),
                request_id=request.state.request_id,
                ping_interval=settings.ping_interval,
            ),
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
    completion = completion_of(message, completion_id=completion_id, lead=lead)
    return JSONResponse(completion.model_dump(mode="json"), headers=generation.headers)
