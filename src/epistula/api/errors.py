"""The one place where exceptions become HTTP responses (or SSE ``error`` events)."""

from __future__ import annotations

import logging
import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from epistula.errors import ApiError, InternalServerError, MethodNotAllowedError, NotFoundError
from epistula.protocol.errors import ErrorObject, ErrorResponse

log = logging.getLogger("epistula.http")


def to_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return NotFoundError("Not Found")
        if exc.status_code == 405:
            return MethodNotAllowedError("Method Not Allowed")
    log.exception("unhandled error", exc_info=exc)
    return InternalServerError("Internal server error")


def envelope(error: ApiError, request_id: str | None) -> ErrorResponse:
    return ErrorResponse(
        error=ErrorObject(type=error.error_type, message=error.message, details=error.details),
        request_id=request_id,
    )


def error_headers(error: ApiError) -> dict[str, str]:
    headers: dict[str, str] = dict(error.headers)
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
        headers["retry-after-ms"] = str(int(error.retry_after * 1000))
    return headers


def error_response(error: ApiError, request_id: str | None) -> Response:
    body = envelope(error, request_id).model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, status_code=error.status, headers=error_headers(error))


async def handle_exception(request: Request, exc: Exception) -> Response:
    response = error_response(to_api_error(exc), getattr(request.state, "request_id", None))
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # e.g. ``Allow`` on 405 (RFC 9110)
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        response.headers["allow"] = allowed_methods(request)
    return response


def allowed_methods(request: Request) -> str:
    """Every method routed for this path. Starlette's own ``Allow`` names only the methods of
    the first route whose path matched, and epistula declares one route per method."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))
