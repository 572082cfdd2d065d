"""Server-tool response blocks (code execution; web fetch and search in :mod:`.web`) and the response's ``container``.

The names follow the SDK's beta types (``BetaServerToolUseBlock``,
``BetaBashCodeExecutionToolResultBlock`` ...); result blocks are sent complete in their
``content_block_start`` event and have no deltas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ._base import RequestModel, ResponseModel, TolerantModel, ToolResultBlockBase
from .web import WebFetchToolResultBlock, WebSearchToolResultBlock

ServerToolName = Literal[
    "web_search",
    "web_fetch",
    "code_execution",
    "bash_code_execution",
    "text_editor_code_execution",
    "tool_search_tool_regex",
    "tool_search_tool_bm25",
]


class CodeExecutionToolDefinition(TolerantModel):
    """A ``code_execution_*`` tool definition (newer keys are kept and ignored)."""

    type: str
    name: Literal["code_execution"]


class DirectCaller(ResponseModel):
    """Who called a tool: the model itself (``caller`` of ``tool_use`` and ``server_tool_use``)."""

    type: Literal["direct"] = "direct"


class ToolUseBase(ResponseModel):
    """A call the model made, of a client tool (``tool_use``) or a server tool
    (``type`` is declared here, and narrowed by each kind, so that it serializes first)."""

    type: str
    id: str
    name: str
    input: dict[str, Any]


class ServerToolUseBlock(ToolUseBase):
    type: Literal["server_tool_use"] = "server_tool_use"
    name: ServerToolName
    caller: DirectCaller = Field(default_factory=DirectCaller)


class ExecutionResultBase(ResponseModel):
    """What running code leaves, in Python (``code_execution``) or bash
    (``type`` is declared here, and narrowed by each kind, so that it serializes first)."""

    type: str
    stdout: str
    stderr: str
    return_code: int


# ---------------------------------------------------------------- code_execution_20250522 (Python)

CodeExecutionErrorCode = Literal["invalid_tool_input", "unavailable", "too_many_requests", "execution_time_exceeded"]


class CodeExecutionOutputBlock(ResponseModel):
    type: Literal["code_execution_output"] = "code_execution_output"
    file_id: str


class CodeExecutionResultBlock(ExecutionResultBase):
    type: Literal["code_execution_result"] = "code_execution_result"
    content: list[CodeExecutionOutputBlock] = Field(default_factory=list)


class CodeExecutionToolResultError(ResponseModel):
    type: Literal["code_execution_tool_result_error"] = "code_execution_tool_result_error"
    error_code: CodeExecutionErrorCode


class CodeExecutionToolResultBlock(ToolResultBlockBase):
    type: Literal["code_execution_tool_result"] = "code_execution_tool_result"
    content: Annotated[CodeExecutionResultBlock | CodeExecutionToolResultError, Field(discriminator="type")]


# ---------------------------------------------------------------- code_execution_20250825: bash

BashCodeExecutionErrorCode = Literal[
    "invalid_tool_input", "unavailable", "too_many_requests", "execution_time_exceeded", "output_file_too_large"
]


class BashCodeExecutionOutputBlock(ResponseModel):
    type: Literal["bash_code_execution_output"] = "bash_code_execution_output"
    file_id: str


class BashCodeExecutionResultBlock(ExecutionResultBase):
    type: Literal["bash_code_execution_result"] = "bash_code_execution_result"
    content: list[BashCodeExecutionOutputBlock] = Field(default_factory=list)


class BashCodeExecutionToolResultError(ResponseModel):
    type: Literal["bash_code_execution_tool_result_error"] = "bash_code_execution_tool_result_error"
    error_code: BashCodeExecutionErrorCode


class BashCodeExecutionToolResultBlock(ToolResultBlockBase):
    type: Literal["bash_code_execution_tool_result"] = "bash_code_execution_tool_result"
    content: Annotated[BashCodeExecutionResultBlock | BashCodeExecutionToolResultError, Field(discriminator="type")]


# ---------------------------------------------------------------- code_execution_20250825: text editor

TextEditorErrorCode = Literal[
    "invalid_tool_input", "unavailable", "too_many_requests", "execution_time_exceeded", "file_not_found"
]


class TextEditorCodeExecutionViewResultBlock(ResponseModel):
    type: Literal["text_editor_code_execution_view_result"] = "text_editor_code_execution_view_result"
    content: str
    file_type: Literal["text", "image", "pdf"] = "text"
    num_lines: int | None = None
    start_line: int | None = None
    total_lines: int | None = None


class TextEditorCodeExecutionCreateResultBlock(ResponseModel):
    type: Literal["text_editor_code_execution_create_result"] = "text_editor_code_execution_create_result"
    is_file_update: bool


class TextEditorCodeExecutionStrReplaceResultBlock(ResponseModel):
    type: Literal["text_editor_code_execution_str_replace_result"] = "text_editor_code_execution_str_replace_result"
    lines: list[str] | None = None
    new_lines: int | None = None
    new_start: int | None = None
    old_lines: int | None = None
    old_start: int | None = None


class TextEditorCodeExecutionToolResultError(ResponseModel):
    type: Literal["text_editor_code_execution_tool_result_error"] = "text_editor_code_execution_tool_result_error"
    error_code: TextEditorErrorCode
    error_message: str | None = None


TextEditorCodeExecutionContent = Annotated[
    TextEditorCodeExecutionViewResultBlock
    | TextEditorCodeExecutionCreateResultBlock
    | TextEditorCodeExecutionStrReplaceResultBlock
    | TextEditorCodeExecutionToolResultError,
    Field(discriminator="type"),
]


class TextEditorCodeExecutionToolResultBlock(ToolResultBlockBase):
    type: Literal["text_editor_code_execution_tool_result"] = "text_editor_code_execution_tool_result"
    content: TextEditorCodeExecutionContent


ServerToolResultBlock = (
    CodeExecutionToolResultBlock
    | BashCodeExecutionToolResultBlock
    | TextEditorCodeExecutionToolResultBlock
    | WebSearchToolResultBlock
    | WebFetchToolResultBlock
)
"""The result blocks epistula produces (one per ``server_tool_use``)."""

# ---------------------------------------------------------------- container and usage


class ContainerSkillParam(RequestModel):
    """A skill named in the request's ``container.skills``."""

    type: Literal["anthropic", "custom"]
    skill_id: str
    version: str = "latest"


class ContainerParams(RequestModel):
    """The request's ``container`` in its object form (the string form is the id)."""

    id: str | None = None
    skills: list[ContainerSkillParam] | None = Field(default=None, max_length=8)


class ContainerSkill(ResponseModel):
    skill_id: str
    type: Literal["anthropic", "custom"]
    version: str


class Container(ResponseModel):
    """The container a request's code ran in (``Message.container``)."""

    id: str
    expires_at: str
    """RFC 3339."""
    skills: list[ContainerSkill] | None = None


class ServerToolUsage(ResponseModel):
    """``usage.server_tool_use``: billable server-tool requests of the message."""

    web_search_requests: int = 0
    web_fetch_requests: int = 0
