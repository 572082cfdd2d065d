"""``POST /v1/complete``: the legacy Text Completions API, as a translation onto the
Messages pipeline (same validation, gate, limits, usage and engine as ``/v1/messages``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from epistula import ids
from epistula.api.callers import authorized
from epistula.api.operations import Api
from epistula.api.request import app_state, read_params
from epistula.api.responses import event_stream, folded
from epistula.api.sse import sse_stream
from epistula.errors import InvalidRequestError
from epistula.generation.service import MessageRequest

from .prompt import message_params, parse_prompt
from .protocol import Completion, CompletionCreateParams
from .translate import CompletionStream, completion_of, leading_text

API = Api("completions")


@API.generation("/v1/complete", "complete_create", CompletionCreateParams, Completion)
async def create_completion(request: Request) -> Response:
    """Create a Text Completion (legacy API; the prompt is a Human/Assistant conversation)"""
    state = app_state(request)
    principal, version = await authorized(request)
    params = await read_params(request, CompletionCreateParams)
    model = state.messages.model(params.model)
    if params.max_tokens_to_sample > model.max_output_tokens:
        raise InvalidRequestError(
            f"max_tokens_to_sample: {params.max_tokens_to_sample} > {model.max_output_tokens}, which is the "
            f"maximum allowed number of output tokens for {params.model}"
        )
    conversation = parse_prompt(params.prompt)
    translated = message_params(params, conversation)
    request_id = request.state.request_id
    generation = await state.messages.start(MessageRequest(translated, principal, version, request_id), model)
    completion_id = ids.new_id("compl_")
    lead = leading_text(conversation)
    if params.stream:
        stream = CompletionStream(completion_id=completion_id, model=params.model, lead=lead)
        body = sse_stream(
            generation.translated(stream.feed), request_id=request_id, ping_interval=state.settings.ping_interval
        )
        return event_stream(generation, body, generation.headers)
    return await folded(
        request, generation, lambda m: completion_of(m, completion_id=completion_id, lead=lead), generation.headers
    )
