"""Tool definitions and ``tool_choice``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ._base import LenientModel, RequestModel
from .common import CacheControlEphemeral


class InputSchema(LenientModel):
    """A JSON Schema object; only ``type: "object"`` is required."""

    type: Literal["object"]


class Tool(RequestModel):
    """A custom (client) tool. ``type`` is absent or ``"custom"``."""

    type: Literal["custom"] | None = None
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    description: str = ""
    input_schema: InputSchema
    cache_control: CacheControlEphemeral | None = None
    strict: bool | None = None
    input_examples: list[dict[str, Any]] | None = None
    defer_loading: bool | None = None
    eager_input_streaming: bool | None = None
    allowed_callers: list[str] | None = None


class VersionedTool(LenientModel):
    """An Anthropic-defined tool (``bash_20250124``, ``web_search_20250305``, ...)."""

    type: str
    name: str | None = None
    cache_control: CacheControlEphemeral | None = None


class ToolChoiceAuto(RequestModel):
    type: Literal["auto"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(RequestModel):
    type: Literal["any"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(RequestModel):
    type: Literal["tool"]
    name: str
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(RequestModel):
    type: Literal["none"]


ToolChoice = Annotated[
    ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone,
    Field(discriminator="type"),
]
