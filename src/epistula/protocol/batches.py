"""Message Batches API wire types (names as in the SDK's ``anthropic.types.messages``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ._base import RequestModel, ResponseModel
from .errors import ErrorResponse
from .messages import Message, MessageCreateParams

CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
MAX_BATCH_REQUESTS = 100_000

# ---------------------------------------------------------------- request


class MessageBatchRequestParam(RequestModel):
    custom_id: str = Field(pattern=CUSTOM_ID_PATTERN)
    params: MessageCreateParams


class MessageBatchCreateParams(RequestModel):
    requests: list[MessageBatchRequestParam] = Field(min_length=1, max_length=MAX_BATCH_REQUESTS)


# ---------------------------------------------------------------- batch object


class MessageBatchRequestCounts(ResponseModel):
    processing: int
    succeeded: int
    errored: int
    canceled: int
    expired: int


class MessageBatch(ResponseModel):
    id: str
    type: Literal["message_batch"] = "message_batch"
    processing_status: Literal["in_progress", "canceling", "ended"]
    request_counts: MessageBatchRequestCounts
    ended_at: str | None
    created_at: str
    expires_at: str
    archived_at: str | None
    cancel_initiated_at: str | None
    results_url: str | None


class DeletedMessageBatch(ResponseModel):
    id: str
    type: Literal["message_batch_deleted"] = "message_batch_deleted"


# ---------------------------------------------------------------- results (one JSONL line each)


class MessageBatchSucceededResult(ResponseModel):
    type: Literal["succeeded"] = "succeeded"
    message: Message


class MessageBatchErroredResult(ResponseModel):
    type: Literal["errored"] = "errored"
    error: ErrorResponse


class MessageBatchCanceledResult(ResponseModel):
    type: Literal["canceled"] = "canceled"


class MessageBatchExpiredResult(ResponseModel):
    type: Literal["expired"] = "expired"


MessageBatchResult = Annotated[
    MessageBatchSucceededResult | MessageBatchErroredResult | MessageBatchCanceledResult | MessageBatchExpiredResult,
    Field(discriminator="type"),
]


class MessageBatchIndividualResponse(ResponseModel):
    custom_id: str
    result: MessageBatchResult
