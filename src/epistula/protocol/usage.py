"""``usage`` objects."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import ResponseModel
from .servertools import ServerToolUsage


class CacheCreation(ResponseModel):
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class Usage(ResponseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation: CacheCreation = CacheCreation()
    server_tool_use: ServerToolUsage | None = None
    service_tier: Literal["standard", "priority", "batch"] | None = "standard"
    inference_geo: str | None = None
    output_tokens_details: None = None
    speed: Literal["standard", "fast"] | None = None


class MessageDeltaUsage(ResponseModel):
    input_tokens: int | None = None
    output_tokens: int
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    server_tool_use: ServerToolUsage | None = Field(default=None, exclude_if=lambda v: v is None)
