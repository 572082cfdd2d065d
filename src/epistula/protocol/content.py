"""Content blocks: the request-side ``*BlockParam`` union and the response ``ContentBlock`` union."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ._base import LenientModel, RequestModel, ResponseModel
from .common import CacheControlEphemeral, CitationsConfig
from .servertools import (
    BashCodeExecutionToolResultBlock,
    CodeExecutionToolResultBlock,
    DirectCaller,
    ServerToolUseBlock,
    TextEditorCodeExecutionToolResultBlock,
    ToolUseBase,
)
from .web import (
    WebFetchToolResultBlock,
    WebFetchToolResultErrorCode,
    WebSearchToolResultBlock,
    WebSearchToolResultErrorCode,
)

# ---------------------------------------------------------------- sources


class Base64ImageSource(RequestModel):
    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: str


class URLImageSource(RequestModel):
    type: Literal["url"]
    url: str


class FileImageSource(RequestModel):
    type: Literal["file"]
    file_id: str


ImageSource = Annotated[Base64ImageSource | URLImageSource | FileImageSource, Field(discriminator="type")]


class Base64PDFSource(RequestModel):
    type: Literal["base64"]
    media_type: Literal["application/pdf"]
    data: str


class PlainTextSource(RequestModel):
    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: str


class URLPDFSource(RequestModel):
    type: Literal["url"]
    url: str


class FileDocumentSource(RequestModel):
    type: Literal["file"]
    file_id: str


class ContentBlockSource(RequestModel):
    type: Literal["content"]
    content: str | list[TextBlockParam | ImageBlockParam]


DocumentSource = Annotated[
    Base64PDFSource | PlainTextSource | ContentBlockSource | URLPDFSource | FileDocumentSource,
    Field(discriminator="type"),
]

# ---------------------------------------------------------------- request blocks


class TextBlockParam(RequestModel):
    type: Literal["text"]
    text: str
    cache_control: CacheControlEphemeral | None = None
    citations: list[dict[str, Any]] | None = None


class ImageBlockParam(RequestModel):
    type: Literal["image"]
    source: ImageSource
    cache_control: CacheControlEphemeral | None = None
    transformations: dict[str, Any] | None = None


class DocumentBlockParam(RequestModel):
    type: Literal["document"]
    source: DocumentSource
    title: str | None = None
    context: str | None = None
    citations: CitationsConfig | None = None
    cache_control: CacheControlEphemeral | None = None


class SearchResultBlockParam(RequestModel):
    type: Literal["search_result"]
    source: str
    title: str
    content: list[TextBlockParam]
    citations: CitationsConfig | None = None
    cache_control: CacheControlEphemeral | None = None


class ThinkingBlockParam(RequestModel):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlockParam(RequestModel):
    type: Literal["redacted_thinking"]
    data: str


class ToolUseBlockParam(RequestModel):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControlEphemeral | None = None
    caller: dict[str, Any] | None = None
    toolset_name: str | None = None


class ToolReferenceBlockParam(RequestModel):
    type: Literal["tool_reference"]
    tool_name: str
    cache_control: CacheControlEphemeral | None = None


class ContainerUploadBlockParam(RequestModel):
    type: Literal["container_upload"]
    file_id: str
    cache_control: CacheControlEphemeral | None = None


class _EchoedBlock(LenientModel):
    """Server-tool blocks a client echoes back; we keep them but never generate them."""

    cache_control: CacheControlEphemeral | None = None


class ServerToolUseBlockParam(_EchoedBlock):
    type: Literal["server_tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class WebSearchResultBlockParam(RequestModel):
    type: Literal["web_search_result"]
    url: str
    title: str
    encrypted_content: str
    page_age: str | None = None


class WebSearchToolRequestErrorParam(RequestModel):
    type: Literal["web_search_tool_result_error"]
    error_code: WebSearchToolResultErrorCode


class WebSearchToolResultBlockParam(_EchoedBlock):
    type: Literal["web_search_tool_result"]
    tool_use_id: str
    content: list[WebSearchResultBlockParam] | WebSearchToolRequestErrorParam


class WebFetchBlockParam(RequestModel):
    type: Literal["web_fetch_result"]
    url: str
    retrieved_at: str | None = None
    content: DocumentBlockParam


class WebFetchToolResultErrorBlockParam(RequestModel):
    type: Literal["web_fetch_tool_result_error"]
    error_code: WebFetchToolResultErrorCode


class WebFetchToolResultBlockParam(_EchoedBlock):
    type: Literal["web_fetch_tool_result"]
    tool_use_id: str
    content: Annotated[WebFetchBlockParam | WebFetchToolResultErrorBlockParam, Field(discriminator="type")]


class CodeExecutionToolResultBlockParam(_EchoedBlock):
    type: Literal["code_execution_tool_result"]
    tool_use_id: str


class BashCodeExecutionToolResultBlockParam(_EchoedBlock):
    type: Literal["bash_code_execution_tool_result"]
    tool_use_id: str


class TextEditorCodeExecutionToolResultBlockParam(_EchoedBlock):
    type: Literal["text_editor_code_execution_tool_result"]
    tool_use_id: str


class ToolSearchToolResultBlockParam(_EchoedBlock):
    type: Literal["tool_search_tool_result"]
    tool_use_id: str


class MCPToolUseBlockParam(_EchoedBlock):
    type: Literal["mcp_tool_use"]
    id: str
    name: str


class MCPToolResultBlockParam(_EchoedBlock):
    type: Literal["mcp_tool_result"]
    tool_use_id: str


class CompactionBlockParam(_EchoedBlock):
    type: Literal["compaction"]


ToolResultContentBlock = Annotated[
    TextBlockParam | ImageBlockParam | SearchResultBlockParam | DocumentBlockParam | ToolReferenceBlockParam,
    Field(discriminator="type"),
]


class ToolResultBlockParam(RequestModel):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[ToolResultContentBlock] | None = None
    is_error: bool | None = None
    cache_control: CacheControlEphemeral | None = None
    toolset_name: str | None = None


ContentBlockParam = Annotated[
    TextBlockParam
    | ImageBlockParam
    | DocumentBlockParam
    | SearchResultBlockParam
    | ThinkingBlockParam
    | RedactedThinkingBlockParam
    | ToolUseBlockParam
    | ToolResultBlockParam
    | ToolReferenceBlockParam
    | ContainerUploadBlockParam
    | ServerToolUseBlockParam
    | WebSearchToolResultBlockParam
    | WebFetchToolResultBlockParam
    | CodeExecutionToolResultBlockParam
    | BashCodeExecutionToolResultBlockParam
    | TextEditorCodeExecutionToolResultBlockParam
    | ToolSearchToolResultBlockParam
    | MCPToolUseBlockParam
    | MCPToolResultBlockParam
    | CompactionBlockParam,
    Field(discriminator="type"),
]

ContentBlockSource.model_rebuild()

# ---------------------------------------------------------------- response blocks


class _CitationBase(ResponseModel):
    """What every citation of a ``document`` block names: the cited text and the document
    (``type`` is declared here, and narrowed by each kind, so that it serializes first)."""

    type: str
    cited_text: str
    document_index: int
    document_title: str | None = None
    file_id: str | None = None


class CitationCharLocation(_CitationBase):
    """A span of a plain-text document: ``end_char_index`` is exclusive."""

    type: Literal["char_location"] = "char_location"
    start_char_index: int
    end_char_index: int


class CitationPageLocation(_CitationBase):
    """Pages of a PDF: 1-based, ``end_page_number`` exclusive."""

    type: Literal["page_location"] = "page_location"
    start_page_number: int
    end_page_number: int


class CitationContentBlockLocation(_CitationBase):
    """Blocks of a custom-content document: 0-based, ``end_block_index`` exclusive."""

    type: Literal["content_block_location"] = "content_block_location"
    start_block_index: int
    end_block_index: int


class CitationWebSearchResultLocation(ResponseModel):
    """A web search result: ``cited_text`` is at most 150 characters of its page snippet,
    ``encrypted_index`` an opaque reference to the cited part."""

    type: Literal["web_search_result_location"] = "web_search_result_location"
    cited_text: str
    url: str
    title: str | None = None
    encrypted_index: str


TextCitation = Annotated[
    CitationCharLocation | CitationPageLocation | CitationContentBlockLocation | CitationWebSearchResultLocation,
    Field(discriminator="type"),
]


class TextBlock(ResponseModel):
    type: Literal["text"] = "text"
    text: str
    citations: list[TextCitation] | None = None


class ThinkingBlock(ResponseModel):
    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str


class RedactedThinkingBlock(ResponseModel):
    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str


class ToolUseBlock(ToolUseBase):
    type: Literal["tool_use"] = "tool_use"
    caller: DirectCaller = Field(default_factory=DirectCaller)


ContentBlock = Annotated[
    TextBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ToolUseBlock
    | ServerToolUseBlock
    | CodeExecutionToolResultBlock
    | BashCodeExecutionToolResultBlock
    | TextEditorCodeExecutionToolResultBlock
    | WebSearchToolResultBlock
    | WebFetchToolResultBlock,
    Field(discriminator="type"),
]
