"""The Files API (beta): metadata in the database, bytes in the blob store, both scoped
to the uploading key's workspace (another workspace gets 404, as for an unknown id).

Also :func:`resolve_file_documents`, which turns ``document`` blocks that reference a
file (``{"type": "file", "file_id": ...}``) or carry a base64 PDF into plain-text
documents *before* a request is prepared: validation and prompt rendering then only
ever see text, which is all a local text model can read anyway. The replacement source
(:class:`ExtractedTextSource`) remembers the PDF's page texts and the file id, because
citations point at pages and name the file. ``image`` blocks with file sources are
checked the same way (the file must exist and be an image) and become base64 images,
which validation refuses on a model that cannot see and a vision model reads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import mimetypes
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, BinaryIO, TypeVar, Unpack

from pydantic import Field

from epistula import ids
from epistula.errors import InternalServerError, InvalidRequestError, NotFoundError, RequestTooLargeError
from epistula.files.pdf import pdf_pages
from epistula.protocol.content import (
    Base64ImageSource,
    Base64PDFSource,
    DocumentBlockParam,
    FileDocumentSource,
    FileImageSource,
    ImageBlockParam,
    PlainTextSource,
    ToolResultBlockParam,
)
from epistula.protocol.files import FileMetadata
from epistula.protocol.messages import MessageCountTokensParams, MessageCreateParams
from epistula.storage.blobs import BlobStore, BlobTooLarge
from epistula.storage.common import ListPage, QuotaExceeded, optional_rfc3339, rfc3339
from epistula.storage.files import FileQuery, FileQuota, FileRecord, FileStore, check_file_quota

MAX_FILE_BYTES = 500 * 1024 * 1024
MIN_EXPIRES_IN = 3600
MAX_EXPIRES_IN = 7_776_000
TEXT_MIME_TYPES = frozenset(
    {"application/json", "application/xml", "application/x-yaml", "application/yaml", "application/x-ndjson"}
)
IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_FILE_BYTES = 5 * 1024 * 1024
"""A file-sourced image is refused above this size before it is read."""

P = TypeVar("P", MessageCreateParams, MessageCountTokensParams)


def clean_filename(filename: str | None, mime_type: str) -> str:
    """Only the last path component is kept; no name -> ``unnamed`` plus an extension."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name.strip()
    if name in ("", ".", ".."):
        return "unnamed" + (mimetypes.guess_extension(mime_type) or "")
    return name


def resolve_mime_type(declared: str | None, filename: str | None) -> str:
    """The part's own content type, unless it is missing or generic: then a guess from
    the file name (SDKs send ``application/octet-stream`` for bytes without a type)."""
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename or "")
    return guessed or "application/octet-stream"


def file_metadata(record: FileRecord) -> FileMetadata:
    return FileMetadata(
        id=record.id,
        filename=record.filename,
        mime_type=record.mime_type,
        size_bytes=record.size_bytes,
        created_at=rfc3339(record.created_at),
        downloadable=record.downloadable,
        expires_at=optional_rfc3339(record.expires_at),
    )


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def quota_error(exc: QuotaExceeded) -> InvalidRequestError:
    what = "files" if exc.quota == "file_count" else "bytes of files"
    return InvalidRequestError(
        f"Storage quota exceeded: this workspace may store {exc.limit:,} {what} and holds {exc.used:,}. "
        "Delete files you no longer need.",
        details={"error_code": "storage_quota_exceeded"},
    )


class FileService:
    def __init__(
        self,
        store: FileStore,
        blobs: BlobStore,
        *,
        max_bytes: int = MAX_FILE_BYTES,
        uploads_downloadable: bool = False,
        quota: FileQuota | None = None,
        default_expiry: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self.max_bytes = max_bytes
        self._uploads_downloadable = uploads_downloadable
        self._quota = quota
        self._default_expiry = default_expiry
        """Seconds to the expiry of uploads that name none (None: they never expire)."""
        self._clock = clock

    async def check_quota(self, workspace_id: str, incoming: int = 0) -> None:
        """Before an upload is read: refuse it when ``incoming`` more bytes (0: unknown) and
        one more file cannot fit the workspace's quota (400 ``storage_quota_exceeded``)."""
        if self._quota is None:
            return
        stored = await asyncio.to_thread(self._store.stored, workspace_id, self._clock())
        try:
            check_file_quota(stored, incoming, self._quota)
        except QuotaExceeded as exc:
            raise quota_error(exc) from None

    async def upload(
        self,
        workspace_id: str,
        source: BinaryIO,
        *,
        filename: str | None,
        mime_type: str | None,
        expires_in_seconds: int | None = None,
        downloadable: bool | None = None,
    ) -> FileRecord:
        """``downloadable``: a file the API created (code execution's outputs); by default
        uploads are downloadable only where the operator allows it."""
        if expires_in_seconds is not None and not MIN_EXPIRES_IN <= expires_in_seconds <= MAX_EXPIRES_IN:
            raise InvalidRequestError(
                f"expires_in_seconds: Input should be between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN}"
            )
        expires_in_seconds = expires_in_seconds or self._default_expiry
        mime = resolve_mime_type(mime_type, filename)
        file_id = ids.file_id()
        try:
            size = await asyncio.to_thread(self._blobs.write, file_id, source, limit=self.max_bytes)
        except BlobTooLarge:
            raise RequestTooLargeError(f"file: the file exceeds the maximum size of {self.max_bytes} bytes") from None
        except OSError as exc:  # the blob store kept nothing (its temporary file is gone)
            if exc.errno in _DISK_FULL:
                raise InternalServerError("The server has no space left to store this file.") from None
            raise
        now = self._clock()
        record = FileRecord(
            id=file_id,
            workspace_id=workspace_id,
            filename=clean_filename(filename, mime),
            mime_type=mime,
            size_bytes=size,
            created_at=now,
            downloadable=self._uploads_downloadable if downloadable is None else downloadable,
            expires_at=now + expires_in_seconds if expires_in_seconds is not None else None,
        )
        try:
            await asyncio.to_thread(self._store.add_file, record, self._quota)
        except QuotaExceeded as exc:
            await asyncio.to_thread(self._blobs.delete, file_id)
            raise quota_error(exc) from None
        except BaseException:
            await asyncio.to_thread(self._blobs.delete, file_id)
            raise
        return record

    async def get(self, workspace_id: str, file_id: str) -> FileRecord:
        record = await asyncio.to_thread(self._store.get_file, workspace_id, file_id)
        if record is None:
            raise NotFoundError(f"File not found: {file_id}")
        if record.expires_at is not None and record.expires_at <= self._clock():
            raise NotFoundError(f"File has expired: {file_id}", details={"error_code": "file_expired"})
        return record

    async def list(self, workspace_id: str, **query: Unpack[FileQuery]) -> ListPage[FileRecord]:
        return await asyncio.to_thread(self._store.list_files, workspace_id, now=self._clock(), **query)

    async def delete(self, workspace_id: str, file_id: str) -> None:
        if not await asyncio.to_thread(self._store.delete_file, workspace_id, file_id):
            raise NotFoundError(f"File not found: {file_id}")
        await asyncio.to_thread(self._blobs.delete, file_id)

    async def open_download(self, workspace_id: str, file_id: str) -> tuple[FileRecord, BinaryIO]:
        """Only ``downloadable`` files: on the real API, files a client uploaded are not
        (only files created by tools are), and asking is a 400."""
        record = await self.get(workspace_id, file_id)
        if not record.downloadable:
            raise InvalidRequestError(
                f"File {file_id} is not downloadable: only files created by the API can be downloaded",
                details={"error_code": "file_not_downloadable"},
            )
        return record, await asyncio.to_thread(self._blobs.open, file_id)

    async def read(self, workspace_id: str, file_id: str) -> tuple[FileRecord, bytes]:
        """The whole file, for use inside a prompt (downloadability does not matter there)."""
        record = await self.get(workspace_id, file_id)

        def read_all() -> bytes:
            with self._blobs.open(file_id) as f:
                return f.read()

        return record, await asyncio.to_thread(read_all)

    async def purge_expired(self) -> int:
        """Delete expired files (metadata first, so a crash in between leaves only an
        unreferenced blob, never a listed file without bytes)."""
        purged = 0
        while expired := await asyncio.to_thread(self._store.expired_files, self._clock()):
            for record in expired:
                await asyncio.to_thread(self._store.delete_file, record.workspace_id, record.id)
                await asyncio.to_thread(self._blobs.delete, record.id)
                purged += 1
        return purged


# ---------------------------------------------------------------- documents from files and PDFs


class ExtractedTextSource(PlainTextSource):
    """Text we extracted from a PDF or read from an uploaded file. It renders like any
    plain-text source; the extra fields (never serialised) say where the text came from,
    so that citations can point at PDF pages and name the file."""

    pages: tuple[str, ...] | None = Field(default=None, exclude=True)
    """A PDF's page texts in order (``None``: not a PDF)."""
    file_id: str | None = Field(default=None, exclude=True)


def pages_text(pages: tuple[str, ...]) -> str:
    """Page texts, each wrapped in a ``<page>`` tag so the model can tell pages apart."""
    return "\n".join(f'<page number="{n}">\n{text}\n</page>' for n, text in enumerate(pages, 1))


def _pdf_source(pages: tuple[str, ...], file_id: str | None) -> ExtractedTextSource:
    return ExtractedTextSource(
        type="text", media_type="text/plain", data=pages_text(pages), pages=pages, file_id=file_id
    )


async def file_document_source(record: FileRecord, data: bytes, where: str) -> ExtractedTextSource:
    mime = record.mime_type
    if mime == "application/pdf":
        return _pdf_source(await pdf_pages(data, where), record.id)
    if mime.startswith("text/") or mime in TEXT_MIME_TYPES:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError(f"{where}: file `{record.id}` is not valid UTF-8 text") from None
        return ExtractedTextSource(type="text", media_type="text/plain", data=text, file_id=record.id)
    raise InvalidRequestError(
        f"{where}: file `{record.id}` has type `{mime}`, which cannot be used as a document (text and PDF files can)"
    )


def _needs_rewrite(block: Any) -> bool:
    if isinstance(block, DocumentBlockParam):
        return isinstance(block.source, (FileDocumentSource, Base64PDFSource))
    if isinstance(block, ImageBlockParam):
        return isinstance(block.source, FileImageSource)
    if isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
        return any(_needs_rewrite(inner) for inner in block.content)
    return False


async def _document(
    block: DocumentBlockParam, where: str, files: FileService | None, workspace_id: str
) -> DocumentBlockParam:
    source = block.source
    if isinstance(source, FileDocumentSource):
        record, data = await _read_file(source.file_id, where, files, workspace_id)
        text: PlainTextSource = await file_document_source(record, data, f"{where}.source")
    elif isinstance(source, Base64PDFSource):
        try:
            data = base64.b64decode(source.data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(f"{where}.source.base64.data: invalid base64 data") from None
        text = _pdf_source(await pdf_pages(data, f"{where}.source"), None)
    else:
        return block
    return block.model_copy(update={"source": text})


async def _read_file(
    file_id: str, where: str, files: FileService | None, workspace_id: str
) -> tuple[FileRecord, bytes]:
    if files is None:
        raise InvalidRequestError(f"{where}.source: file sources need the Files API, which is not enabled")
    try:
        return await files.read(workspace_id, file_id)
    except NotFoundError as exc:
        raise NotFoundError(f"{where}.source.file_id: {exc.message}", details=exc.details) from None


async def _image_file(block: ImageBlockParam, where: str, files: FileService | None, workspace_id: str) -> Any:
    """A file-sourced image as a base64 one: the file must exist in the workspace (404), be an
    image (400) and be within the per-image size limit before it is read. Validation then
    checks it like any base64 image (and refuses it on a text-only model)."""
    if not isinstance(block.source, FileImageSource):
        return block
    if files is None:
        raise InvalidRequestError(f"{where}.source: file sources need the Files API, which is not enabled")
    try:
        record = await files.get(workspace_id, block.source.file_id)
    except NotFoundError as exc:
        raise NotFoundError(f"{where}.source.file_id: {exc.message}", details=exc.details) from None
    if record.mime_type not in IMAGE_MIME_TYPES:
        raise InvalidRequestError(
            f"{where}.source: file `{record.id}` has type `{record.mime_type}`, which cannot be used as an "
            f"image (supported: {', '.join(IMAGE_MIME_TYPES)})"
        )
    if record.size_bytes > MAX_IMAGE_FILE_BYTES:
        raise InvalidRequestError(
            f"{where}.source: image exceeds 5 MB maximum: {record.size_bytes} bytes > {MAX_IMAGE_FILE_BYTES} bytes"
        )
    _, data = await _read_file(block.source.file_id, where, files, workspace_id)
    encoded = base64.b64encode(data).decode("ascii")
    source = Base64ImageSource(type="base64", media_type=record.mime_type, data=encoded)
    return block.model_copy(update={"source": source})


async def _resolve_block(block: Any, where: str, files: FileService | None, workspace_id: str) -> Any:
    if isinstance(block, DocumentBlockParam):
        return await _document(block, f"{where}.document", files, workspace_id)
    if isinstance(block, ImageBlockParam):
        return await _image_file(block, f"{where}.image", files, workspace_id)
    return block


async def resolve_file_documents(params: P, files: FileService | None, workspace_id: str) -> P:
    """``params`` with file-sourced and base64-PDF documents replaced by their text, and
    file-sourced images checked (the same object when there are none, so the common path
    costs one scan)."""
    if not any(isinstance(m.content, list) and any(_needs_rewrite(b) for b in m.content) for m in params.messages):
        return params
    messages = []
    for i, message in enumerate(params.messages):
        if isinstance(message.content, str) or not any(_needs_rewrite(b) for b in message.content):
            messages.append(message)
            continue
        blocks: list[Any] = []
        for j, block in enumerate(message.content):
            where = f"messages.{i}.content.{j}"
            if isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
                inner = [
                    await _resolve_block(item, f"{where}.content.{k}", files, workspace_id)
                    for k, item in enumerate(block.content)
                ]
                block = block.model_copy(update={"content": inner})
            else:
                block = await _resolve_block(block, where, files, workspace_id)
            blocks.append(block)
        messages.append(message.model_copy(update={"content": blocks}))
    return params.model_copy(update={"messages": messages})
