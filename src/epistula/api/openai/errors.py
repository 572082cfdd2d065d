"""Errors in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``), as the
Claude API's OpenAI endpoint returns them: the OpenAI SDK reads ``error.message`` and
picks its exception class from the HTTP status, which stays the same as on our own API."""

from __future__ import annotations

import re

from epistula.api.openai.protocol import ChatCompletionCreateParams, OpenAIErrorObject, OpenAIErrorResponse
from epistula.errors import ApiError

_PATH = re.compile(r"^([A-Za-z_][\w.]*): ")
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def _param(message: str) -> str | None:
    """The request field a validation message starts with (``messages.0.content: ...``)."""
    match = _PATH.match(message)
    if match is None:
        return None
    path = match.group(1)
    return path if path.split(".")[0] in ChatCompletionCreateParams.model_fields else None


def openai_error(error: ApiError) -> OpenAIErrorResponse:
    code = _CODES.get(error.status)
    if error.status == 404 and error.message.startswith("model:"):
        code = "model_not_found"
    return OpenAIErrorResponse(
        error=OpenAIErrorObject(message=error.message, type=error.error_type, param=_param(error.message), code=code)
    )
