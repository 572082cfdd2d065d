"""Error envelope types."""

from __future__ import annotations

from typing import Any, Literal

from ._base import ResponseModel

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
    "conflict_error",
]


class ErrorObject(ResponseModel):
    type: ErrorType
    message: str
    details: dict[str, Any] | None = None


class ErrorResponse(ResponseModel):
    type: Literal["error"] = "error"
    error: ErrorObject
    request_id: str | None = None
