"""``/v1/files`` (beta): upload (multipart), list, metadata, content, delete.

Beta clients send ``anthropic-beta: files-api-2025-04-14`` and older SDKs append
``?beta=true``; both are accepted and ignored like every other beta flag and query.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import BinaryIO
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from epistula.api.callers import authorized, owned
from epistula.api.operations import BYTES, IDS_NOTE, PAGING, Api, Content, Param, array_param
from epistula.api.paging import decode_page, listed, page_cursor
from epistula.api.request import app_state, query_limit
from epistula.api.state import available
from epistula.errors import InvalidRequestError, RequestTooLargeError
from epistula.files.service import FileService, file_metadata
from epistula.protocol.files import DeletedFile, FileMetadata, FilePage

FORM_OVERHEAD = 1024 * 1024
"""Room for the multipart framing and small fields on top of the file size limit."""
MAX_IDS = 100

API = Api("files")
FILE = "/v1/files/{file_id}"
UPLOAD = Content(
    "multipart/form-data",
    schema={
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The file's bytes (part filename kept)."},
            "expires_in_seconds": {
                "anyOf": [
                    {"type": "integer", "minimum": 3600, "maximum": 7_776_000},
                    {"type": "string", "pattern": "^\\s*$", "description": "Blank: the file does not expire."},
                ]
            },
        },
    },
)


def _service(request: Request) -> FileService:
    return available(app_state(request).files, "the Files API")


async def bounded(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """The body, cut off with a 413 past ``limit`` (a chunked upload has no length to check)."""
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"Request exceeds the maximum allowed number of bytes ({limit}).")
        yield chunk


@API.post("/v1/files", "files_upload", request=UPLOAD)
async def upload_file(request: Request) -> FileMetadata:
    """Upload a file"""
    principal, _ = await authorized(request)
    service = _service(request)
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise InvalidRequestError(
            f"Unsupported content type: {ctype.split(';')[0] or '(none)'}; expected multipart/form-data"
        )
    limit = service.max_bytes + FORM_OVERHEAD
    length = request.headers.get("content-length")
    length = length if length is not None and length.isdigit() else None
    if length is not None and int(length) > limit:
        raise RequestTooLargeError(f"file: the file exceeds the maximum size of {service.max_bytes} bytes")
    # The quota before the body is read: the form's framing is not file bytes, so allow for it.
    await service.check_quota(principal.workspace_id, max(0, int(length) - FORM_OVERHEAD) if length else 0)
    parser = MultiPartParser(request.headers, bounded(request.stream(), limit), max_files=1, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequestError(f"invalid multipart body: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequestError("file: Field required")
        expires = form.get("expires_in_seconds")
        expires_in: int | None = None
        if isinstance(expires, str) and expires.strip():
            try:
                expires_in = int(expires)
            except ValueError:
                raise InvalidRequestError("expires_in_seconds: Input should be a valid integer") from None
        record = await service.upload(
            principal.workspace_id,
            upload.file,
            filename=upload.filename,
            mime_type=upload.content_type,
            expires_in_seconds=expires_in,
        )
    finally:
        await form.close()
    return file_metadata(record)


def _query_ids(request: Request) -> list[str] | None:
    """``ids[]=a&ids[]=b`` (what the SDKs send), repeated ``ids``, or comma-separated."""
    raw = request.query_params.getlist("ids[]") + request.query_params.getlist("ids")
    if not raw:
        return None
    ids = list(dict.fromkeys(part.strip() for value in raw for part in value.split(",") if part.strip()))
    if len(ids) > MAX_IDS:
        raise InvalidRequestError(f"ids: at most {MAX_IDS} ids may be given")
    return ids


@API.get(
    "/v1/files",
    "files_list",
    params=(
        *PAGING,
        Param("page", {"type": "string"}, "The opaque ``next_page`` cursor of the previous page.", empty_ok=True),
        array_param("ids", "Only these files (not combined with ``page`` or ``limit``). " + IDS_NOTE),
    ),
)
async def list_files(request: Request) -> FilePage:
    """List files"""
    principal, _ = await authorized(request)
    query = request.query_params
    ids = _query_ids(request)
    page_token = query.get("page") or None
    if ids is not None and (page_token or "limit" in query):
        raise InvalidRequestError("ids: cannot be combined with `page` or `limit`")
    after_id = decode_page(page_token) if page_token else query.get("after_id") or None
    page = await _service(request).list(
        principal.workspace_id,
        limit=MAX_IDS if ids is not None else query_limit(request),
        before_id=query.get("before_id") or None,
        after_id=after_id,
        ids=ids,
    )
    data = [file_metadata(r) for r in page.items]
    next_page = page_cursor(data[-1].id) if page.has_more and data else None
    return listed(FilePage, data, page.has_more, next_page=next_page)


@API.get(FILE, "files_retrieve")
async def get_file(request: Request) -> FileMetadata:
    """Get a file's metadata"""
    file = await owned(request, "file_id")
    record = await _service(request).get(*file)
    return file_metadata(record)


async def stream_chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    """A blob's bytes, read off the event loop, the handle closed however the response ends."""
    try:
        while chunk := await asyncio.to_thread(handle.read, 1 << 20):
            yield chunk
    finally:
        handle.close()


@API.get(FILE + "/content", "files_content", response=BYTES)
async def file_content(request: Request) -> Response:
    """Download a file's bytes (only downloadable files)"""
    file = await owned(request, "file_id")
    record, handle = await _service(request).open_download(*file)
    return StreamingResponse(
        stream_chunks(handle),
        media_type=record.mime_type,
        headers={
            "content-length": str(record.size_bytes),
            "content-disposition": f"attachment; filename*=UTF-8''{quote(record.filename)}",
        },
    )


@API.delete(FILE, "files_delete")
async def delete_file(request: Request) -> DeletedFile:
    """Delete a file"""
    workspace_id, file_id = await owned(request, "file_id")
    await _service(request).delete(workspace_id, file_id)
    return DeletedFile(id=file_id)
