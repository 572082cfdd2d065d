"""The citable parts of a request's documents: one :class:`Chunk` per sentence (plain
text, PDF pages) or per content block (custom-content documents), each knowing the
citation object that points at it.

``document_index`` counts every ``document`` block of the request in order, across all
messages (inside ``tool_result`` content too), whether or not its citations are enabled,
as the real API documents it. Documents arrive here after
:func:`epistula.files.sources.resolve_file_documents`, so PDFs and files are already
text; :class:`~epistula.files.service.ExtractedTextSource` still carries the page texts
and the file id; so do the fetched PDFs of web fetch (``epistula.servertools.web_documents``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from epistula.files.service import ExtractedTextSource
from epistula.protocol.content import (
    CitationCharLocation,
    CitationContentBlockLocation,
    CitationPageLocation,
    ContentBlockSource,
    DocumentBlockParam,
    PlainTextSource,
    TextBlockParam,
    TextCitation,
    ToolResultBlockParam,
    WebFetchBlockParam,
    WebFetchToolResultBlockParam,
)
from epistula.protocol.messages import PromptParams

from .segments import segments


@dataclass(frozen=True, slots=True)
class Chunk:
    """The smallest citable unit, and the citation that points at exactly it."""

    text: str
    citation: TextCitation


def iter_documents(params: PromptParams, *, fetched: bool = False) -> Iterator[DocumentBlockParam]:
    """Every document block of the client's, in request order, those in ``tool_result``
    content too; with ``fetched``, also the pages that web fetch fetched, in their place
    (``web_fetch_tool_result`` blocks of earlier turns and of this response): what
    ``document_index`` counts."""
    for message in params.messages:
        if isinstance(message.content, str):
            continue
        for block in message.content:
            if isinstance(block, DocumentBlockParam):
                yield block
            elif isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
                yield from (item for item in block.content if isinstance(item, DocumentBlockParam))
            elif (
                fetched
                and isinstance(block, WebFetchToolResultBlockParam)
                and isinstance(block.content, WebFetchBlockParam)
            ):
                yield block.content.content


def citations_enabled(block: DocumentBlockParam) -> bool:
    return bool(block.citations is not None and block.citations.enabled)


def document_chunks(block: DocumentBlockParam, index: int) -> list[Chunk]:
    """The chunks of one document; ``cited_text`` is always an exact slice of the source
    text (of one page's text for PDFs, of one block's text for custom content)."""
    source = block.source
    title = block.title
    common: dict[str, Any] = {"document_index": index, "document_title": title}
    if isinstance(source, ExtractedTextSource) and source.pages is not None:
        chunks: list[Chunk] = []
        for number, page in enumerate(source.pages, 1):
            for start, end in segments(page):
                text = page[start:end]
                citation = CitationPageLocation(
                    cited_text=text,
                    start_page_number=number,
                    end_page_number=number + 1,
                    file_id=source.file_id,
                    **common,
                )
                chunks.append(Chunk(text, citation))
        return chunks
    if isinstance(source, PlainTextSource):
        file_id = source.file_id if isinstance(source, ExtractedTextSource) else None
        data = source.data
        return [
            Chunk(
                data[start:end],
                CitationCharLocation(
                    cited_text=data[start:end], start_char_index=start, end_char_index=end, file_id=file_id, **common
                ),
            )
            for start, end in segments(data)
        ]
    if isinstance(source, ContentBlockSource):
        blocks: list[Any] = (
            [TextBlockParam(type="text", text=source.content)]
            if isinstance(source.content, str)
            else list(source.content)
        )
        return [
            Chunk(
                b.text,
                CitationContentBlockLocation(cited_text=b.text, start_block_index=j, end_block_index=j + 1, **common),
            )
            for j, b in enumerate(blocks)
            if isinstance(b, TextBlockParam) and b.text.strip()
        ]
    return []  # URL sources are refused by validation before we get here


def citable_chunks(params: PromptParams) -> list[Chunk]:
    """All chunks of the documents that have citations enabled (empty: nothing to cite)."""
    chunks: list[Chunk] = []
    for index, block in enumerate(iter_documents(params, fetched=True)):
        if citations_enabled(block):
            chunks.extend(document_chunks(block, index))
    return chunks
