"""Web fetch and web search: the tool definitions a request gives, and the result blocks
(names as in the SDK's ``anthropic.types``), the content of ``web_fetch_tool_result`` and
``web_search_tool_result`` blocks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import RequestModel, ResponseModel, TolerantModel, ToolResultBlockBase
from .common import CacheControlEphemeral
from .common import CitationsConfig as CitationsConfigParam

WEB_FETCH_TYPES = ("web_fetch_20250910", "web_fetch_20260209")
WEB_SEARCH_TYPES = ("web_search_20250305", "web_search_20260209")
"""The versions epistula runs (the later ones change what the response includes)."""


class _WebToolDefinition(TolerantModel):
    """What web fetch and web search definitions share (newer keys are kept and ignored)."""

    type: str
    allowed_domains: list[str] | None = None
    blocked_domains: list[str] | None = None
    max_uses: int | None = Field(default=None, gt=0)
    cache_control: CacheControlEphemeral | None = None


class WebFetchToolDefinition(_WebToolDefinition):
    name: Literal["web_fetch"]
    citations: CitationsConfigParam | None = None
    max_content_tokens: int | None = Field(default=None, gt=0)


class UserLocation(RequestModel):
    type: Literal["approximate"]
    city: str | None = None
    region: str | None = None
    country: str | None = None
    timezone: str | None = None


class WebSearchToolDefinition(_WebToolDefinition):
    name: Literal["web_search"]
    user_location: UserLocation | None = None


WebFetchToolResultErrorCode = Literal[
    "invalid_tool_input",
    "url_too_long",
    "url_not_allowed",
    "url_not_in_prior_context",
    "url_not_accessible",
    "unsupported_content_type",
    "too_many_requests",
    "max_uses_exceeded",
    "unavailable",
    "content_too_large",
]
WebSearchToolResultErrorCode = Literal[
    "invalid_tool_input", "unavailable", "max_uses_exceeded", "too_many_requests", "query_too_long", "request_too_large"
]


class CitationsConfig(ResponseModel):
    enabled: bool


class PlainTextSource(ResponseModel):
    type: Literal["text"] = "text"
    media_type: Literal["text/plain"] = "text/plain"
    data: str


class Base64PDFSource(ResponseModel):
    type: Literal["base64"] = "base64"
    media_type: Literal["application/pdf"] = "application/pdf"
    data: str


class DocumentBlock(ResponseModel):
    type: Literal["document"] = "document"
    source: PlainTextSource | Base64PDFSource
    title: str | None = None
    citations: CitationsConfig | None = None


class WebFetchBlock(ResponseModel):
    type: Literal["web_fetch_result"] = "web_fetch_result"
    url: str
    retrieved_at: str | None = None
    content: DocumentBlock


class WebFetchToolResultErrorBlock(ResponseModel):
    type: Literal["web_fetch_tool_result_error"] = "web_fetch_tool_result_error"
    error_code: WebFetchToolResultErrorCode


class WebFetchToolResultBlock(ToolResultBlockBase):
    type: Literal["web_fetch_tool_result"] = "web_fetch_tool_result"
    content: WebFetchBlock | WebFetchToolResultErrorBlock


class WebSearchResultBlock(ResponseModel):
    type: Literal["web_search_result"] = "web_search_result"
    url: str
    title: str
    encrypted_content: str
    page_age: str | None = None


class WebSearchToolResultError(ResponseModel):
    type: Literal["web_search_tool_result_error"] = "web_search_tool_result_error"
    error_code: WebSearchToolResultErrorCode


class WebSearchToolResultBlock(ToolResultBlockBase):
    type: Literal["web_search_tool_result"] = "web_search_tool_result"
    content: list[WebSearchResultBlock] | WebSearchToolResultError
