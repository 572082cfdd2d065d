"""The one exception hierarchy. Each class fixes an HTTP status and an Anthropic
``error.type``; :mod:`epistula.api.errors` is the only place that turns them into
responses (a JSON envelope, or an SSE ``error`` event once a stream has started).

    ApiError
    ├── InvalidRequestError        400 invalid_request_error
    ├── AuthenticationError        401 authentication_error
    ├── PermissionDeniedError      403 permission_error
    ├── NotFoundError              404 not_found_error
    ├── ConflictError              409 conflict_error
    ├── RequestTooLargeError       413 request_too_large
    ├── RateLimitError             429 rate_limit_error
    ├── InternalServerError        500 api_error
    └── OverloadedError            529 overloaded_error
"""

from __future__ import annotations

from typing import ClassVar

from epistula.protocol.errors import ErrorType


class ApiError(Exception):
    status: ClassVar[int] = 500
    error_type: ClassVar[ErrorType] = "api_error"

    def __init_subclass__(cls, *, status: int | None = None, error_type: ErrorType | None = None) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if error_type is not None:
            cls.error_type = error_type

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        details: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.details = details
        self.headers = dict(headers or {})
        """Extra response headers (``anthropic-ratelimit-*`` on a 429)."""


class InvalidRequestError(ApiError, status=400, error_type="invalid_request_error"):
    """The request is malformed or breaks a rule of the API."""


class AuthenticationError(ApiError, status=401, error_type="authentication_error"):
    """No valid API key."""


class PermissionDeniedError(ApiError, status=403, error_type="permission_error"):
    """The key may not do this."""


class NotFoundError(ApiError, status=404, error_type="not_found_error"):
    """No such resource (or not in the caller's workspace)."""


class MethodNotAllowedError(ApiError, status=405, error_type="invalid_request_error"):
    """The path exists, the method does not."""


class ConflictError(ApiError, status=409, error_type="conflict_error"):
    """The resource is in a state that forbids this."""


class RequestTooLargeError(ApiError, status=413, error_type="request_too_large"):
    """The body is over the size limit."""


class RateLimitError(ApiError, status=429, error_type="rate_limit_error"):
    """A rate or spend limit refused the request."""


class InternalServerError(ApiError, status=500, error_type="api_error"):
    """A failure on our side."""


class OverloadedError(ApiError, status=529, error_type="overloaded_error"):
    """No capacity now; retry after ``retry_after`` seconds."""
