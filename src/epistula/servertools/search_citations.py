"""Web search results as citable sources: the real API's answers after a search cite
the results they use with ``web_search_result_location`` citations (always, no option).

Each result's page snippet, unsealed from ``encrypted_content`` by this server's seal, is
cut into sentences like a document; a reply sentence that reuses one cites it (the
aligner of :mod:`epistula.citations`), with the result's ``url`` and ``title``, at most
:data:`CITED_TEXT_CHARS` of the sentence as ``cited_text``, and an ``encrypted_index``
naming the result and the span (opaque to clients, like the real one). A result this
server did not seal has no known snippet and is never cited.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence

from epistula.citations import Chunk, segments
from epistula.protocol.content import CitationWebSearchResultLocation, WebSearchToolResultBlockParam
from epistula.protocol.messages import MessageParam

from .transcript import Reveal

CITED_TEXT_CHARS = 150
"""The most of a result's text that one citation quotes (the real API's limit)."""


def encrypted_index(encrypted_content: str, start: int, end: int) -> str:
    """An opaque reference to ``[start, end)`` of the snippet sealed in ``encrypted_content``."""
    result = hashlib.sha256(encrypted_content.encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(json.dumps([result, start, end]).encode()).decode()


def search_chunks(messages: Sequence[MessageParam], reveal: Reveal | None) -> list[Chunk]:
    """The sentences of every web search result in ``messages`` (earlier turns and this
    response), in conversation order."""
    if reveal is None:
        return []
    chunks: list[Chunk] = []
    for message in messages:
        if isinstance(message.content, str):
            continue
        for block in message.content:
            if not isinstance(block, WebSearchToolResultBlockParam) or not isinstance(block.content, list):
                continue
            for result in block.content:
                snippet = reveal(result.encrypted_content) or ""
                for start, end in segments(snippet):
                    text = snippet[start:end]
                    citation = CitationWebSearchResultLocation(
                        cited_text=text.rstrip()[:CITED_TEXT_CHARS],
                        url=result.url,
                        title=result.title or None,
                        encrypted_index=encrypted_index(result.encrypted_content, start, end),
                    )
                    chunks.append(Chunk(text, citation))
    return chunks
