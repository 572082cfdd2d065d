"""``POST /v1/complete`` request and response types (``anthropic`` 0.x ``types/completion*.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from epistula.protocol._base import RequestModel, ResponseModel
from epistula.protocol.common import Metadata

CompletionStopReason = Literal["stop_sequence", "max_tokens"]


class CompletionCreateParams(RequestModel):
    model: str
    prompt: str
    max_tokens_to_sample: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    metadata: Metadata | None = None
    stream: bool | None = None


class Completion(ResponseModel):
    """The response, and also every streamed ``completion`` event (there ``completion`` is an
    increment and ``stop_reason`` stays null until the last one). ``stop`` names the stop
    sequence that ended generation, as the real API reports it."""

    type: Literal["completion"] = "completion"
    id: str
    completion: str
    stop_reason: CompletionStopReason | None = None
    model: str
    stop: str | None = None
