"""OpenAI's SSE framing: ``data: <chunk>`` lines, ``data: [DONE]`` at the end.

There are no event names. A failure after the 200 is one ``data: {"error": {...}}``
frame (the OpenAI SDK raises ``APIError`` on it) and the stream ends without ``[DONE]``.
While nothing is sent for ``ping_interval`` seconds (a long prefill) an SSE comment keeps
the connection alive; SSE clients ignore comments. The writer is :mod:`epistula.api.sse`.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from epistula.api.errors import to_api_error
from epistula.api.sse import Framing

from .errors import openai_error

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"


def frame(data: BaseModel) -> bytes:
    text = json.dumps(data.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return b"data: " + text.encode() + b"\n\n"


def _error_frame(exc: Exception, _request_id: str) -> bytes:
    return frame(openai_error(to_api_error(exc)))


OPENAI = Framing(encode=frame, error=_error_frame, keepalive=KEEPALIVE, done=DONE)
