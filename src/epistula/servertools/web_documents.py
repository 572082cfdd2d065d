"""Fetched PDFs as text: what the model reads of a ``web_fetch_result`` whose document is a
base64 PDF, and what its citations point into.

The client gets the PDF itself (``source: {"type": "base64", "media_type":
"application/pdf"}``), as the real API sends it. The text is extracted once per request
with the same sandboxed, budgeted extraction as PDF ``document`` blocks
(:func:`epistula.files.pdf.pdf_pages`: a child process with CPU, memory, page, size and
wall-time limits, off the event loop), and kept by the SHA-256 of the base64 data. A PDF
echoed back in a later turn is extracted again for that request. A PDF whose text cannot be
extracted stays a PDF: the model is told its text could not be read, and it is not cited.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from epistula.errors import InvalidRequestError
from epistula.files.pdf import pdf_pages
from epistula.files.service import ExtractedTextSource, pages_text
from epistula.protocol.content import Base64PDFSource, WebFetchBlockParam, WebFetchToolResultBlockParam
from epistula.protocol.messages import MessageParam

PdfTexts = MutableMapping[str, tuple[str, ...]]
"""The page texts of the request's fetched PDFs, by :func:`pdf_key`."""


def pdf_key(data: str) -> str:
    """The key of a base64 PDF's page texts."""
    return hashlib.sha256(data.encode("ascii", "replace")).hexdigest()


async def learn_pdf(data: str, texts: PdfTexts) -> bool:
    """Extract the page texts of the base64 PDF ``data`` into ``texts`` (False: unreadable)."""
    key = pdf_key(data)
    if key in texts:
        return True
    try:
        raw = base64.b64decode(data, validate=True)
        texts[key] = await pdf_pages(raw, "web_fetch_tool_result")
    except (binascii.Error, ValueError, InvalidRequestError):
        return False
    return True


def _fetched_pdf(block: Any) -> str | None:
    """The base64 data of ``block``'s fetched PDF, if it is a ``web_fetch_tool_result`` with one."""
    if isinstance(block, WebFetchToolResultBlockParam) and isinstance(block.content, WebFetchBlockParam):
        source = block.content.content.source
        if isinstance(source, Base64PDFSource):
            return source.data
    return None


async def learn_echoed_pdfs(messages: Sequence[MessageParam], texts: PdfTexts) -> None:
    """Extract the fetched PDFs of earlier turns that the client sent back."""
    for message in messages:
        if isinstance(message.content, str):
            continue
        for block in message.content:
            data = _fetched_pdf(block)
            if data is not None:
                await learn_pdf(data, texts)


def with_pdf_text(messages: Sequence[MessageParam], texts: Mapping[str, tuple[str, ...]]) -> list[MessageParam]:
    """``messages`` with each fetched PDF whose text is known as that text (an
    :class:`~epistula.files.service.ExtractedTextSource`: ``<page>``-tagged text, and the
    pages for ``page_location`` citations)."""
    out: list[MessageParam] = []
    for message in messages:
        if isinstance(message.content, str) or not any(_fetched_pdf(b) is not None for b in message.content):
            out.append(message)
            continue
        blocks = [_as_text(block, texts) for block in message.content]
        out.append(message.model_copy(update={"content": blocks}))
    return out


def _as_text(block: Any, texts: Mapping[str, tuple[str, ...]]) -> Any:
    data = _fetched_pdf(block)
    pages = texts.get(pdf_key(data)) if data is not None else None
    if pages is None:
        return block
    fetched: WebFetchBlockParam = block.content
    source = ExtractedTextSource(type="text", media_type="text/plain", data=pages_text(pages), pages=pages)
    document = fetched.content.model_copy(update={"source": source})
    return block.model_copy(update={"content": fetched.model_copy(update={"content": document})})
