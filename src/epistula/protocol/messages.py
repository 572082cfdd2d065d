"""``POST /v1/messages`` request and response types."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from ._base import LenientModel, RequestModel, ResponseModel, TolerantModel
from .common import CacheControlEphemeral, Metadata
from .content import ContentBlock, ContentBlockParam, TextBlockParam
from .servertools import Container
from .tools import Tool, ToolChoice, VersionedTool
from .usage import Usage

# ---------------------------------------------------------------- thinking & output config

KnownDisplay = Literal["summarized", "omitted"]
Display = KnownDisplay | str
"""Tolerant: a display mode newer than this contract (``updates``) parses; the generation
layer logs it and treats it as the default (see ``generation/compat.py``)."""
KnownEffort = Literal["low", "medium", "high", "xhigh", "max"]
Effort = KnownEffort | str


class ThinkingConfigEnabled(RequestModel):
    type: Literal["enabled"]
    budget_tokens: int = Field(ge=1024)
    display: Display | None = None
    block_binding: dict[str, Any] | None = None


class ThinkingConfigDisabled(RequestModel):
    type: Literal["disabled"]


class _ThinkingConfigByModel(RequestModel):
    """What the thinking modes that leave the budget to the model take (``type`` is
    declared here, and narrowed by each mode, so that it comes first)."""

    type: str
    display: Display | None = None
    block_binding: dict[str, Any] | None = None


class ThinkingConfigAdaptive(_ThinkingConfigByModel):
    type: Literal["adaptive"]


class ThinkingConfigBetweenTools(_ThinkingConfigByModel):
    type: Literal["between_tools"]


ThinkingConfig = Annotated[
    ThinkingConfigEnabled | ThinkingConfigDisabled | ThinkingConfigAdaptive | ThinkingConfigBetweenTools,
    Field(discriminator="type"),
]


class JSONOutputFormat(RequestModel):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(TolerantModel):
    """Unknown keys are kept (and logged, then ignored, by the generation layer)."""

    effort: Effort | None = None
    format: JSONOutputFormat | None = None
    task_budget: dict[str, Any] | None = None


# ---------------------------------------------------------------- messages


class UserMessageParam(RequestModel):
    role: Literal["user"]
    content: str | list[ContentBlockParam]


class AssistantMessageParam(RequestModel):
    role: Literal["assistant"]
    content: str | list[ContentBlockParam]


class SystemMessageParam(RequestModel):
    """A mid-conversation system message (newest API; sent by Claude Code)."""

    role: Literal["system"]
    content: str | list[TextBlockParam]
    output_config: OutputConfig | None = None


MessageParam = Annotated[
    UserMessageParam | AssistantMessageParam | SystemMessageParam,
    Field(discriminator="role"),
]


def _tool_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return "custom" if kind in (None, "custom") else "versioned"


ToolUnion = Annotated[
    Annotated[Tool, Tag("custom")] | Annotated[VersionedTool, Tag("versioned")],
    Discriminator(_tool_kind),
]


class ContextManagementConfig(LenientModel):
    """Edits stay raw here: the generation layer validates the types it knows strictly
    (``ClearToolUsesEdit``, ``ClearThinkingEdit``) and logs and skips the others."""

    edits: list[dict[str, Any]] | None = None


class _CountValue(RequestModel):
    """A count of something in a context-management edit (``type`` is declared here, and
    narrowed by each kind, so that it comes first)."""

    type: str
    value: int = Field(ge=0)


class InputTokensValue(_CountValue):
    type: Literal["input_tokens"]


class ToolUsesValue(_CountValue):
    type: Literal["tool_uses"]


class ThinkingTurnsValue(_CountValue):
    type: Literal["thinking_turns"]


class AllThinkingTurns(RequestModel):
    type: Literal["all"]


class ClearToolUsesEdit(RequestModel):
    """``clear_tool_uses_20250919``: replace old tool results once the prompt is large."""

    type: Literal["clear_tool_uses_20250919"]
    trigger: Annotated[InputTokensValue | ToolUsesValue, Field(discriminator="type")] | None = None
    keep: ToolUsesValue | None = None
    clear_at_least: InputTokensValue | None = None
    exclude_tools: list[str] | None = None
    clear_tool_inputs: bool | list[str] | None = None


class ClearThinkingEdit(RequestModel):
    """``clear_thinking_20251015``: drop thinking blocks of older assistant turns."""

    type: Literal["clear_thinking_20251015"]
    keep: Annotated[ThinkingTurnsValue | AllThinkingTurns, Field(discriminator="type")] | Literal["all"] | None = None


class PromptParams(RequestModel):
    """Fields shared by message creation and token counting."""

    model: str
    messages: list[MessageParam]
    system: str | list[TextBlockParam] | None = None
    tools: list[ToolUnion] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    output_format: JSONOutputFormat | None = None
    cache_control: CacheControlEphemeral | None = None
    context_management: ContextManagementConfig | None = None
    mcp_servers: list[dict[str, Any]] | None = None
    speed: Literal["standard", "fast"] | None = None
    # Newer betas epistula does not implement: accepted when null, rejected with a
    # precise error otherwise (see validation.check_supported).
    thread: dict[str, Any] | None = None
    compaction: dict[str, Any] | None = None
    fallbacks: list[Any] | None = None
    fallback_credit_token: str | None = None
    billing_policy: dict[str, Any] | None = None


class MessageCreateParams(PromptParams):
    max_tokens: int
    metadata: Metadata | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    service_tier: Literal["auto", "standard_only"] | None = None
    container: str | dict[str, Any] | None = None
    inference_geo: str | None = None
    diagnostics: dict[str, Any] | None = None


class MessageCountTokensParams(PromptParams):
    pass


class CountTokensContextManagement(ResponseModel):
    original_input_tokens: int


class MessageTokensCount(ResponseModel):
    input_tokens: int
    context_management: CountTokensContextManagement | None = Field(default=None, exclude_if=lambda v: v is None)


# ---------------------------------------------------------------- response

StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]


class ClearToolUsesApplied(ResponseModel):
    type: Literal["clear_tool_uses_20250919"] = "clear_tool_uses_20250919"
    cleared_tool_uses: int
    cleared_input_tokens: int


class ClearThinkingApplied(ResponseModel):
    type: Literal["clear_thinking_20251015"] = "clear_thinking_20251015"
    cleared_thinking_turns: int
    cleared_input_tokens: int


class ContextManagementResponse(ResponseModel):
    applied_edits: list[ClearToolUsesApplied | ClearThinkingApplied]


class Message(ResponseModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None
    container: Container | None = None
    """The code-execution container the message's code ran in."""
    context_management: ContextManagementResponse | None = Field(default=None, exclude_if=lambda v: v is None)
    """Only when the request's ``context_management`` edits were honoured (a beta field)."""
    usage: Usage
