"""Server-sent stream events (``RawMessageStreamEvent`` in the SDK) and their deltas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ._base import ResponseModel
from .content import ContentBlock, TextCitation
from .errors import ErrorResponse
from .messages import ContextManagementResponse, Message, StopReason
from .servertools import Container
from .usage import MessageDeltaUsage


class TextDelta(ResponseModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class InputJSONDelta(ResponseModel):
    type: Literal["input_json_delta"] = "input_json_delta"
    partial_json: str


class ThinkingDelta(ResponseModel):
    type: Literal["thinking_delta"] = "thinking_delta"
    thinking: str


class SignatureDelta(ResponseModel):
    type: Literal["signature_delta"] = "signature_delta"
    signature: str


class CitationsDelta(ResponseModel):
    type: Literal["citations_delta"] = "citations_delta"
    citation: TextCitation


RawContentBlockDelta = Annotated[
    TextDelta | InputJSONDelta | ThinkingDelta | SignatureDelta | CitationsDelta,
    Field(discriminator="type"),
]


class RawMessageStartEvent(ResponseModel):
    type: Literal["message_start"] = "message_start"
    message: Message


class RawContentBlockStartEvent(ResponseModel):
    type: Literal["content_block_start"] = "content_block_start"
    index: int
    content_block: ContentBlock


class RawContentBlockDeltaEvent(ResponseModel):
    type: Literal["content_block_delta"] = "content_block_delta"
    index: int
    delta: RawContentBlockDelta


class RawContentBlockStopEvent(ResponseModel):
    type: Literal["content_block_stop"] = "content_block_stop"
    index: int


RawContentBlockEvent = RawContentBlockStartEvent | RawContentBlockDeltaEvent | RawContentBlockStopEvent
"""The events of one content block, which carry its ``index`` (what merges and renumbers blocks)."""


class MessageDelta(ResponseModel):
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None
    container: Container | None = Field(default=None, exclude_if=lambda v: v is None)
    """The code-execution container, when the message ran code."""


class RawMessageDeltaEvent(ResponseModel):
    type: Literal["message_delta"] = "message_delta"
    delta: MessageDelta
    usage: MessageDeltaUsage
    context_management: ContextManagementResponse | None = Field(default=None, exclude_if=lambda v: v is None)


class RawMessageStopEvent(ResponseModel):
    type: Literal["message_stop"] = "message_stop"


class PingEvent(ResponseModel):
    type: Literal["ping"] = "ping"


class ErrorEvent(ErrorResponse):
    """The stream's ``error`` event: a failure after the response started, as the same
    envelope a failed request gets."""


RawMessageStreamEvent = Annotated[
    RawMessageStartEvent
    | RawContentBlockStartEvent
    | RawContentBlockDeltaEvent
    | RawContentBlockStopEvent
    | RawMessageDeltaEvent
    | RawMessageStopEvent,
    Field(discriminator="type"),
]
