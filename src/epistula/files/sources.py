"""Document and image sources resolved before a request is prepared.

:func:`resolve_file_documents` turns ``document`` blocks that reference a file
(``{"type": "file", "file_id": ...}``), carry a base64 PDF or (when the operator lets
epistula fetch) name a PDF by URL into plain-text documents: validation and prompt
rendering then only see text. The replacement source
(:class:`~epistula.files.service.ExtractedTextSource`) remembers the PDF's page texts and
the file id, because citations point at pages and name the file, and, for a model that
sees, each page as an image (the real API gives vision models every page as text and
image). ``image`` blocks with file sources, and URL sources where fetching is on, become
base64 images, which validation refuses on a model that cannot see and a vision model reads.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from epistula.errors import InvalidRequestError, NotFoundError, RequestTooLargeError
from epistula.protocol.content import (
    Base64ImageSource,
    Base64PDFSource,
    ContentBlockSource,
    DocumentBlockParam,
    FileDocumentSource,
    FileImageSource,
    ImageBlockParam,
    PlainTextSource,
    ToolResultBlockParam,
    URLImageSource,
    URLPDFSource,
)
from epistula.protocol.messages import MessageCountTokensParams, MessageCreateParams
from epistula.storage.files import FileRecord

from .service import IMAGE_MIME_TYPES, MAX_IMAGE_FILE_BYTES, FileService, file_document_source, pdf_source

P = TypeVar("P", MessageCreateParams, MessageCountTokensParams)


class UrlSources(Protocol):
    """Fetches ``url`` sources within the operator's policy (``servertools.url_sources``)."""

    max_per_request: int
    """Most URL sources one request may name."""
    max_request_bytes: int
    """Most bytes fetched for one request, all its URL sources together."""

    async def image(self, url: str, where: str) -> Base64ImageSource:
        """The image at ``url`` (a 400 naming ``where`` when it cannot be fetched or is no image)."""
        ...

    async def pdf(self, url: str, where: str) -> bytes:
        """The PDF at ``url`` (a 400 naming ``where`` when it cannot be fetched or is no PDF)."""
        ...


@dataclass(slots=True)
class _Resolver:
    files: FileService | None
    workspace_id: str
    urls: UrlSources | None
    vision: bool
    """The model sees: PDFs bring page images, and image URLs are fetched (else they are
    left for validation to refuse, without a fetch)."""
    fetched: int = 0
    """Bytes fetched for URL sources so far."""

    def count_urls(self, block: Any) -> int:
        if isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
            return sum(self.count_urls(inner) for inner in block.content)
        if isinstance(block, DocumentBlockParam) and isinstance(block.source, ContentBlockSource):
            content = block.source.content
            return sum(self.count_urls(part) for part in content) if isinstance(content, list) else 0
        is_pdf = isinstance(block, DocumentBlockParam) and isinstance(block.source, URLPDFSource)
        is_image = isinstance(block, ImageBlockParam) and isinstance(block.source, URLImageSource) and self.vision
        return int(is_pdf or is_image)

    def spent(self, size: int, where: str) -> None:
        """``size`` more bytes fetched, within the request's byte budget for URL sources."""
        assert self.urls is not None
        self.fetched += size
        if self.fetched > self.urls.max_request_bytes:
            raise RequestTooLargeError(
                f"{where}: the request's URL sources exceed {self.urls.max_request_bytes} bytes together"
            )

    def needs_rewrite(self, block: Any) -> bool:
        if isinstance(block, DocumentBlockParam):
            source = block.source
            if isinstance(source, ContentBlockSource) and isinstance(source.content, list):
                return any(self.needs_rewrite(inner) for inner in source.content)
            return isinstance(source, (FileDocumentSource, Base64PDFSource)) or (
                self.urls is not None and isinstance(source, URLPDFSource)
            )
        if isinstance(block, ImageBlockParam):
            return isinstance(block.source, FileImageSource) or (
                self.urls is not None and self.vision and isinstance(block.source, URLImageSource)
            )
        if isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
            return any(self.needs_rewrite(inner) for inner in block.content)
        return False

    async def document(self, block: DocumentBlockParam, where: str) -> DocumentBlockParam:
        source = block.source
        text: PlainTextSource
        if isinstance(source, FileDocumentSource):
            record, data = await self.read_file(source.file_id, where)
            text = await file_document_source(record, data, f"{where}.source", images=self.vision)
        elif isinstance(source, Base64PDFSource):
            try:
                data = base64.b64decode(source.data, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidRequestError(f"{where}.source.base64.data: invalid base64 data") from None
            text = await pdf_source(data, f"{where}.source", None, images=self.vision)
        elif isinstance(source, URLPDFSource) and self.urls is not None:
            data = await self.urls.pdf(source.url, f"{where}.source.url")
            self.spent(len(data), f"{where}.source.url")
            text = await pdf_source(data, f"{where}.source", None, images=self.vision)
        elif isinstance(source, ContentBlockSource) and isinstance(source.content, list):
            content = [
                await self.image(part, f"{where}.source.content.{k}.image")
                if isinstance(part, ImageBlockParam)
                else part
                for k, part in enumerate(source.content)
            ]
            return block.model_copy(update={"source": source.model_copy(update={"content": content})})
        else:
            return block
        return block.model_copy(update={"source": text})

    async def read_file(self, file_id: str, where: str) -> tuple[FileRecord, bytes]:
        if self.files is None:
            raise InvalidRequestError(f"{where}.source: file sources need the Files API, which is not enabled")
        try:
            return await self.files.read(self.workspace_id, file_id)
        except NotFoundError as exc:
            raise NotFoundError(f"{where}.source.file_id: {exc.message}", details=exc.details) from None

    async def image(self, block: ImageBlockParam, where: str) -> ImageBlockParam:
        """A file- or URL-sourced image as a base64 one. A file must exist in the workspace
        (404), be an image (400) and be within the per-image size limit before it is read.
        Validation then checks it like any base64 image."""
        source = block.source
        if isinstance(source, URLImageSource) and self.urls is not None and self.vision:
            fetched = await self.urls.image(source.url, f"{where}.source.url")
            encoded = fetched.data  # the bytes count, not their base64
            self.spent(len(encoded) * 3 // 4 - encoded.endswith("=") - encoded.endswith("=="), f"{where}.source.url")
            return block.model_copy(update={"source": fetched})
        if not isinstance(source, FileImageSource):
            return block
        if self.files is None:
            raise InvalidRequestError(f"{where}.source: file sources need the Files API, which is not enabled")
        try:
            record = await self.files.get(self.workspace_id, source.file_id)
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
        _, data = await self.read_file(source.file_id, where)
        encoded = base64.b64encode(data).decode("ascii")
        resolved = Base64ImageSource(type="base64", media_type=record.mime_type, data=encoded)
        return block.model_copy(update={"source": resolved})

    async def block(self, block: Any, where: str) -> Any:
        if isinstance(block, DocumentBlockParam):
            return await self.document(block, f"{where}.document")
        if isinstance(block, ImageBlockParam):
            return await self.image(block, f"{where}.image")
        return block


async def resolve_file_documents(
    params: P,
    files: FileService | None,
    workspace_id: str,
    *,
    urls: UrlSources | None = None,
    vision: bool = False,
) -> P:
    """``params`` with file-sourced, base64-PDF and (with ``urls``) URL-PDF documents replaced
    by their text (and, when the model has ``vision``, page images), and file- and URL-sourced
    images read (the same object when there are none, so the common path costs one scan)."""
    resolver = _Resolver(files=files, workspace_id=workspace_id, urls=urls, vision=vision)
    needs = resolver.needs_rewrite
    if not any(isinstance(m.content, list) and any(needs(b) for b in m.content) for m in params.messages):
        return params
    if urls is not None:
        named = sum(resolver.count_urls(b) for m in params.messages if isinstance(m.content, list) for b in m.content)
        if named > urls.max_per_request:
            raise InvalidRequestError(f"messages: {named} URL sources > {urls.max_per_request} maximum per request")
    messages = []
    for i, message in enumerate(params.messages):
        if isinstance(message.content, str) or not any(needs(b) for b in message.content):
            messages.append(message)
            continue
        blocks: list[Any] = []
        for j, block in enumerate(message.content):
            where = f"messages.{i}.content.{j}"
            if isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
                inner = [await resolver.block(item, f"{where}.content.{k}") for k, item in enumerate(block.content)]
                block = block.model_copy(update={"content": inner})
            else:
                block = await resolver.block(block, where)
            blocks.append(block)
        messages.append(message.model_copy(update={"content": blocks}))
    return params.model_copy(update={"messages": messages})
