"""Files API wire types (names as in the SDK's ``anthropic.types``)."""

from __future__ import annotations

from typing import Literal

from ._base import ResponseModel


class FileMetadata(ResponseModel):
    id: str
    type: Literal["file"] = "file"
    filename: str
    mime_type: str
    size_bytes: int
    created_at: str
    downloadable: bool
    expires_at: str | None = None


class FilePage(ResponseModel):
    """Both paging styles at once: ``has_more``/``first_id``/``last_id`` for older SDKs,
    ``next_page`` (an opaque ``page_`` cursor) for the newest ones."""

    data: list[FileMetadata]
    has_more: bool
    first_id: str | None
    last_id: str | None
    next_page: str | None


class DeletedFile(ResponseModel):
    id: str
    type: Literal["file_deleted"] = "file_deleted"
