"""``/v1/messages/batches``: create, list, retrieve, cancel, delete, results (JSONL)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from epistula.api.operations import JSONL, PAGING, Api
from epistula.api.request import api_version, app_state, authenticate, public_base_url, query_limit, read_json
from epistula.batches.service import MAX_BATCH_BODY_BYTES, BatchService, message_batch
from epistula.errors import InternalServerError
from epistula.protocol.batches import DeletedMessageBatch, MessageBatch, MessageBatchCreateParams
from epistula.protocol.models import Page

PROGRESS_HEADER = "x-epistula-batch-progress"
"""``done/total``: request counts stay ``processing`` until a batch ends (as on the real
API), so progress is reported out of band for tools like ``epistula batch``."""

API = Api("batches")


def _service(request: Request) -> BatchService:
    service = app_state(request).batches
    if service is None:
        raise InternalServerError("the Message Batches API is not available on this server")
    return service


@API.operation(
    "post",
    "/v1/messages/batches",
    id="batches_create",
    summary="Create a message batch",
    request=MessageBatchCreateParams,
    response=MessageBatch,
)
async def create_batch(request: Request) -> Response:
    principal = await authenticate(request)
    version = api_version(request)
    raw = await read_json(request, MAX_BATCH_BODY_BYTES)
    record = await _service(request).create(principal.workspace_id, version, raw)
    return JSONResponse(message_batch(record, public_base_url(request)).model_dump(mode="json"))


@API.operation(
    "get",
    "/v1/messages/batches",
    id="batches_list",
    summary="List message batches, newest first",
    response=Page[MessageBatch],
    params=PAGING,
)
async def list_batches(request: Request) -> Response:
    principal = await authenticate(request)
    api_version(request)
    query = request.query_params
    page = await _service(request).list(
        principal.workspace_id,
        limit=query_limit(request),
        before_id=query.get("before_id") or None,
        after_id=query.get("after_id") or None,
    )
    base = public_base_url(request)
    data = [message_batch(r, base) for r in page.items]
    body = Page[MessageBatch](
        data=data,
        has_more=page.has_more,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
    )
    return JSONResponse(body.model_dump(mode="json"))


@API.operation(
    "get",
    "/v1/messages/batches/{batch_id}",
    id="batches_retrieve",
    summary="Get a message batch",
    response=MessageBatch,
)
async def get_batch(request: Request) -> Response:
    principal = await authenticate(request)
    api_version(request)
    service = _service(request)
    record = await service.get(principal.workspace_id, request.path_params["batch_id"])
    progress = await service.progress(record.id)
    return JSONResponse(
        message_batch(record, public_base_url(request)).model_dump(mode="json"),
        headers={PROGRESS_HEADER: f"{progress.done}/{progress.total}"},
    )


@API.operation(
    "post",
    "/v1/messages/batches/{batch_id}/cancel",
    id="batches_cancel",
    summary="Cancel a message batch",
    response=MessageBatch,
)
async def cancel_batch(request: Request) -> Response:
    principal = await authenticate(request)
    api_version(request)
    record = await _service(request).cancel(principal.workspace_id, request.path_params["batch_id"])
    return JSONResponse(message_batch(record, public_base_url(request)).model_dump(mode="json"))


@API.operation(
    "delete",
    "/v1/messages/batches/{batch_id}",
    id="batches_delete",
    summary="Delete an ended message batch",
    response=DeletedMessageBatch,
)
async def delete_batch(request: Request) -> Response:
    principal = await authenticate(request)
    api_version(request)
    batch_id = request.path_params["batch_id"]
    await _service(request).delete(principal.workspace_id, batch_id)
    return JSONResponse(DeletedMessageBatch(id=batch_id).model_dump(mode="json"))


@API.operation(
    "get",
    "/v1/messages/batches/{batch_id}/results",
    id="batches_results",
    summary="Stream the results of an ended batch (JSONL)",
    response=JSONL,
)
async def batch_results(request: Request) -> Response:
    principal = await authenticate(request)
    api_version(request)
    lines = await _service(request).results(principal.workspace_id, request.path_params["batch_id"])
    return StreamingResponse(lines, media_type="application/x-jsonl")
