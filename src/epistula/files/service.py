"""The Files API (beta): metadata in the database, bytes in the blob store, both scoped
to the uploading key's workspace (another workspace gets 404, as for an unknown id).

Also the extracted-text document sources that :mod:`.sources` puts in place of files
and PDFs (:class:`ExtractedTextSource`, :func:`pdf_source`).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import mimetypes
import time
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import BinaryIO, TypeVar, Unpack

from pydantic import Field

from epistula import ids
from epistula.errors import InternalServerError, InvalidRequestError, NotFoundError, RequestTooLargeError
from epistula.files.pdf import pdf_pages, pdf_pages_and_images
from epistula.protocol.content import (
    Base64ImageSource,
    ImageBlockParam,
    PlainTextSource,
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
    page_images: tuple[ImageBlockParam, ...] | None = Field(default=None, exclude=True)
    """Each PDF page as a PNG image block, for a model that sees (``None``: text only)."""


def pages_text(pages: Sequence[str], images: Sequence[str] = ()) -> str:
    """Page texts, each wrapped in a ``<page>`` tag so the model can tell pages apart (and
    preceded, inside it, by ``images[n]``: a page image's marker, where there are images)."""
    shown = [f"{images[n]}\n" if n < len(images) else "" for n in range(len(pages))]
    return "\n".join(f'<page number="{n + 1}">\n{shown[n]}{text}\n</page>' for n, text in enumerate(pages))


async def pdf_source(data: bytes, where: str, file_id: str | None, *, images: bool) -> ExtractedTextSource:
    """The PDF ``data`` as extracted text (and page images when ``images``: the model sees)."""
    pngs: tuple[bytes, ...] = ()
    if images:
        pages, pngs = await pdf_pages_and_images(data, where)
    else:
        pages = await pdf_pages(data, where)
    blocks = tuple(
        ImageBlockParam(
            type="image",
            source=Base64ImageSource(type="base64", media_type="image/png", data=base64.b64encode(png).decode()),
        )
        for png in pngs
    )
    return ExtractedTextSource(
        type="text",
        media_type="text/plain",
        data=pages_text(pages),
        pages=pages,
        file_id=file_id,
        page_images=blocks or None,
    )


async def file_document_source(
    record: FileRecord, data: bytes, where: str, *, images: bool = False
) -> ExtractedTextSource:
    mime = record.mime_type
    if mime == "application/pdf":
        return await pdf_source(data, where, record.id, images=images)
    if mime.startswith("text/") or mime in TEXT_MIME_TYPES:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError(f"{where}: file `{record.id}` is not valid UTF-8 text") from None
        return ExtractedTextSource(type="text", media_type="text/plain", data=text, file_id=record.id)
    raise InvalidRequestError(
        f"{where}: file `{record.id}` has type `{mime}`, which cannot be used as a document (text and PDF files can)"
    )
