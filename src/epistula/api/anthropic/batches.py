"""``/v1/messages/batches``: create, list, retrieve, cancel, delete, results (JSONL)."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from epistula.api.anthropic.batch_preflight import create_checked
from epistula.api.callers import authorized, owned
from epistula.api.operations import JSONL, PAGING, Api
from epistula.api.paging import cursor, listed
from epistula.api.request import PREFLIGHT_BYTES, app_state, decode_json, json_body, off_loop, public_base_url
from epistula.api.state import available
from epistula.batches.service import MAX_BATCH_BODY_BYTES, BatchService, message_batch
from epistula.protocol.batches import DeletedMessageBatch, MessageBatch, MessageBatchCreateParams
from epistula.protocol.models import Page

PROGRESS_HEADER = "x-epistula-batch-progress"
"""``done/total``: request counts stay ``processing`` until a batch ends (as on the real
API), so progress is reported out of band for tools like ``epistula batch``."""

API = Api("batches")
BATCHES = "/v1/messages/batches"
BATCH = BATCHES + "/{batch_id}"


def _service(request: Request) -> BatchService:
    return available(app_state(request).batches, "the Message Batches API")


@API.post(BATCHES, "batches_create", request=MessageBatchCreateParams)
async def create_batch(request: Request) -> MessageBatch:
    """Create a message batch"""
    principal, version = await authorized(request)
    body = await json_body(request, MAX_BATCH_BODY_BYTES)
    workspace_id, key_id = principal.workspace_id, principal.key_id
    if len(body) > PREFLIGHT_BYTES:  # up to 256 MB: decoded and validated in the worker process
        service = functools.partial(_service, request)
        record = await create_checked(app_state(request).workers, service, body, version, workspace_id, key_id)
    else:
        raw = await off_loop(len(body), lambda: decode_json(body))
        record = await _service(request).create(workspace_id, version, raw, key_id=key_id)
    return message_batch(record, public_base_url(request))


@API.get(BATCHES, "batches_list", params=PAGING)
async def list_batches(request: Request) -> Page[MessageBatch]:
    """List message batches, newest first"""
    principal, _ = await authorized(request)
    page = await _service(request).list(principal.workspace_id, **cursor(request))
    base = public_base_url(request)
    return listed(Page[MessageBatch], [message_batch(r, base) for r in page.items], page.has_more)


@API.get(BATCH, "batches_retrieve", response=MessageBatch)
async def get_batch(request: Request) -> Response:
    """Get a message batch"""
    batch = await owned(request, "batch_id")
    service = _service(request)
    record = await service.get(*batch)
    progress = await service.progress(record.id)
    return JSONResponse(
        message_batch(record, public_base_url(request)).model_dump(mode="json"),
        headers={PROGRESS_HEADER: f"{progress.done}/{progress.total}"},
    )


@API.post(BATCH + "/cancel", "batches_cancel")
async def cancel_batch(request: Request) -> MessageBatch:
    """Cancel a message batch"""
    batch = await owned(request, "batch_id")
    record = await _service(request).cancel(*batch)
    return message_batch(record, public_base_url(request))


@API.delete(BATCH, "batches_delete")
async def delete_batch(request: Request) -> DeletedMessageBatch:
    """Delete an ended message batch"""
    workspace_id, batch_id = await owned(request, "batch_id")
    await _service(request).delete(workspace_id, batch_id)
    return DeletedMessageBatch(id=batch_id)


@API.get(BATCH + "/results", "batches_results", response=JSONL)
async def batch_results(request: Request) -> Response:
    """Stream the results of an ended batch (JSONL)"""
    batch = await owned(request, "batch_id")
    lines = await _service(request).results(*batch)
    return StreamingResponse(lines, media_type="application/x-jsonl")
