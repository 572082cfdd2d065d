"""Per-request facts shared between the gate (which knows the model, key and tokens)
and the middleware (which knows the status and duration and writes the access log).

The middleware puts a fresh :class:`RequestFacts` in a context variable; the route and
the gate run in that context (a streaming body's tasks copy it, and the object is shared),
so hooks fill it in without any registry keyed by request id. Work outside a request
(batch items) sees ``None``.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class RequestFacts:
    key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    outcome: str | None = None


current_request: ContextVar[RequestFacts | None] = ContextVar("epistula_request_facts", default=None)
