"""Web fetch (``web_fetch_20250910``) and web search (``web_search_20250305``) as server
tools of the loop: the model calls ``web_fetch`` with a URL or ``web_search`` with a
query, and the call's result is a ``web_fetch_tool_result`` or ``web_search_tool_result``
block (:mod:`.web_fetch`, :mod:`.web_search` do the work).

As in the real API, a fetch reaches only URLs that the user's messages or earlier search
and fetch results hold (``url_not_in_prior_context``), a definition's ``max_uses`` caps the
calls of one request (``max_uses_exceeded``), and each failure is a result block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from epistula.errors import InvalidRequestError
from epistula.protocol.messages import MessageCreateParams, UserMessageParam
from epistula.protocol.servertools import ServerToolUseBlock
from epistula.protocol.tools import Tool, VersionedTool
from epistula.protocol.web import (
    WEB_FETCH_TYPES,
    WEB_SEARCH_TYPES,
    Base64PDFSource,
    PlainTextSource,
    WebFetchBlock,
    WebFetchToolDefinition,
    WebFetchToolResultBlock,
    WebFetchToolResultErrorBlock,
    WebSearchToolDefinition,
    WebSearchToolResultBlock,
    WebSearchToolResultError,
)

from .base import Counter, ToolContext, one_argument_tool, parse_definition
from .web_documents import learn_pdf
from .web_fetch import WebFetcher
from .web_search import WebSearcher

CHARS_PER_TOKEN = 4
"""How ``max_content_tokens`` (an approximate limit in the real API) becomes characters."""

FETCH = one_argument_tool(
    "web_fetch",
    "Fetch a web page or PDF and read its text. Only URLs that the user gave or that "
    "earlier web search or web fetch results contain can be fetched.",
    "url",
    "The URL to fetch.",
)
SEARCH = one_argument_tool(
    "web_search",
    "Search the web: the results are pages with their title, URL and a snippet.",
    "query",
    "The search query.",
)


def _check_domains(index: int, definition: WebFetchToolDefinition | WebSearchToolDefinition) -> None:
    if definition.allowed_domains and definition.blocked_domains:
        raise InvalidRequestError(
            f"tools.{index}.{definition.type}: use either allowed_domains or blocked_domains, not both"
        )


def prior_sources(params: MessageCreateParams) -> list[str]:
    """Where a fetched URL may come from: the system prompt, the user's messages, and the
    web search and fetch results of earlier turns (never what the model wrote itself)."""
    sources = [json.dumps(_dump(params.system), ensure_ascii=False)] if params.system else []
    for message in params.messages:
        if isinstance(message, UserMessageParam):
            sources.append(json.dumps(_dump(message.content), ensure_ascii=False))
        elif not isinstance(message.content, str):
            results = [b for b in message.content if getattr(b, "type", "") in _URL_RESULTS]
            sources += [json.dumps(_dump(block), ensure_ascii=False) for block in results]
    return sources


_URL_RESULTS = frozenset({"web_search_tool_result", "web_fetch_tool_result"})


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


@dataclass(frozen=True, slots=True)
class _Refused:
    """A call that ends before any work, with this ``error_code``."""

    code: Literal["max_uses_exceeded", "invalid_tool_input"]


R = TypeVar("R", WebFetchToolResultBlock, WebSearchToolResultBlock)
D = TypeVar("D", WebFetchToolDefinition, WebSearchToolDefinition)


class _WebTool(Generic[D]):
    """What web fetch and web search share: one model-facing tool with one string argument,
    ``max_uses``, domain lists, results that later fetches may take URLs from, no container."""

    needs_container = False
    tool: ClassVar[Tool]
    argument: ClassVar[str]
    """The tool's one input field (``url``, ``query``)."""
    definition: type[D]

    def _read(
        self, call: ServerToolUseBlock, definition: VersionedTool, context: ToolContext
    ) -> tuple[D, str | _Refused]:
        """The definition's options, and the call's argument or why the call is refused:
        over the definition's ``max_uses`` in this request, or without its string argument."""
        options = self.definition.model_validate(definition.model_dump(exclude_unset=True))
        if options.max_uses is not None and context.uses[call.name] > options.max_uses:
            return options, _Refused("max_uses_exceeded")
        value = call.input.get(self.argument)
        return options, value if isinstance(value, str) else _Refused("invalid_tool_input")

    @staticmethod
    def _result(block: R, context: ToolContext) -> R:
        """``block``, remembered as a source of URLs for the request's later fetches."""
        context.sources.append(block.model_dump_json())
        return block

    def model_tools(self, kind: str) -> list[Tool]:
        return [self.tool]

    def check(self, index: int, definition: VersionedTool) -> None:
        _check_domains(index, parse_definition(index, definition, self.definition))

    def forced(self, kind: str) -> str:
        return self.tool.name


class WebFetchTool(_WebTool[WebFetchToolDefinition]):
    kinds: tuple[str, ...] = WEB_FETCH_TYPES
    counter: Counter | None = "web_fetch_requests"
    tool = FETCH
    argument = "url"
    definition = WebFetchToolDefinition

    def __init__(self, fetcher: WebFetcher) -> None:
        self.fetcher = fetcher

    async def execute(
        self, call: ServerToolUseBlock, definition: VersionedTool, context: ToolContext
    ) -> WebFetchToolResultBlock:
        options, url = self._read(call, definition, context)
        content: WebFetchBlock | WebFetchToolResultErrorBlock
        if isinstance(url, _Refused):
            content = WebFetchToolResultErrorBlock(error_code=url.code)
        else:
            content = await self.fetcher.result(
                url,
                citations=bool(options.citations and options.citations.enabled),
                allowed_domains=options.allowed_domains,
                blocked_domains=options.blocked_domains,
                context="\n".join(context.sources),
            )
            if isinstance(content, WebFetchBlock) and isinstance(content.content.source, Base64PDFSource):
                await learn_pdf(content.content.source.data, context.pdf_texts)  # what the model reads
            elif isinstance(content, WebFetchBlock) and options.max_content_tokens is not None:
                content = _shortened(content, options.max_content_tokens * CHARS_PER_TOKEN)
        return self._result(WebFetchToolResultBlock(tool_use_id=call.id, content=content), context)


def _shortened(fetched: WebFetchBlock, chars: int) -> WebFetchBlock:
    source = fetched.content.source
    if not isinstance(source, PlainTextSource) or len(source.data) <= chars:
        return fetched
    document = fetched.content.model_copy(update={"source": PlainTextSource(data=source.data[:chars])})
    return fetched.model_copy(update={"content": document})


class WebSearchTool(_WebTool[WebSearchToolDefinition]):
    kinds: tuple[str, ...] = WEB_SEARCH_TYPES
    counter: Counter | None = "web_search_requests"
    tool = SEARCH
    argument = "query"
    definition = WebSearchToolDefinition

    def __init__(self, searcher: WebSearcher) -> None:
        self.searcher = searcher

    async def execute(
        self, call: ServerToolUseBlock, definition: VersionedTool, context: ToolContext
    ) -> WebSearchToolResultBlock:
        options, query = self._read(call, definition, context)
        if isinstance(query, _Refused):
            content: Any = WebSearchToolResultError(error_code=query.code)
        else:
            content = await self.searcher.result(
                query, allowed_domains=options.allowed_domains, blocked_domains=options.blocked_domains
            )
        return self._result(WebSearchToolResultBlock(tool_use_id=call.id, content=content), context)
