"""Pure ASGI middleware: a request id and the organisation header on every response,
``cache-control: no-store`` on JSON responses that set no policy of their own,
the Anthropic envelope for anything that escapes the routes, and one access-log record
(plus request metrics) per request.

The access record carries the request id, method, path, status, duration and, when the
request reached the gate, the key id, workspace, model and token counts (from the
:class:`~epistula.observability.context.RequestFacts` the gate fills in). It never
carries credentials; request bodies (message content) only with ``log_content``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from epistula import ids
from epistula.api.errors import envelope, error_headers, to_api_error
from epistula.observability.context import RequestFacts, current_request
from epistula.observability.metrics import Metrics, method_label, status_label

log = logging.getLogger("epistula.access")

LOGGED_BODY_BYTES = 64 * 1024
"""With ``log_content``, at most this much of a JSON request body goes into the log."""


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        organization_id: str,
        metrics: Metrics | None = None,
        log_content: bool = False,
    ) -> None:
        self.app = app
        self.organization_id = organization_id.encode()
        self.metrics = metrics
        self.log_content = log_content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ids.request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        facts = RequestFacts()
        token = current_request.set(facts)
        started = False
        status = 0
        t0 = time.perf_counter()
        body = bytearray()
        capture = self.log_content and _is_json(scope)

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < LOGGED_BODY_BYTES:
                body.extend(message.get("body", b"")[: LOGGED_BODY_BYTES - len(body)])
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                if _json_without_cache_policy(headers):
                    headers.append((b"cache-control", b"no-store"))  # keys, usage, content: never cached
                headers.append((b"request-id", request_id.encode()))
                headers.append((b"anthropic-organization-id", self.organization_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive_wrapper if capture else receive, send_wrapper)
        except Exception as exc:  # the last line of defence: still an Anthropic envelope
            if started:
                raise
            error = to_api_error(exc)
            payload = json.dumps(envelope(error, request_id).model_dump(mode="json", exclude_none=True)).encode()
            headers = [(b"content-type", b"application/json")]
            headers += [(k.encode(), v.encode()) for k, v in error_headers(error).items()]
            await send_wrapper({"type": "http.response.start", "status": error.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        finally:
            current_request.reset(token)
            duration = time.perf_counter() - t0
            route = _route(scope)
            if self.metrics is not None:
                labels = (method_label(scope.get("method", "")), route, status_label(status), facts.model or "")
                self.metrics.requests.labels(*labels).inc()
                self.metrics.request_duration.labels(route).observe(duration)
            record: dict[str, Any] = {
                "request_id": request_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 1),
                "user_agent": _header(scope, b"user-agent"),
            }
            record.update({k: v for k, v in _facts(facts).items() if v is not None})
            if capture:
                record["request_body"] = body.decode("utf-8", errors="replace")
            log.info("request", extra=record)


def _route(scope: Scope) -> str:
    """The matched route's template (bounded label values), ``unmatched`` for 404s."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _json_without_cache_policy(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {bytes(k).lower(): bytes(v) for k, v in headers}
    return names.get(b"content-type", b"").startswith(b"application/json") and b"cache-control" not in names


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _is_json(scope: Scope) -> bool:
    return (_header(scope, b"content-type") or "").startswith("application/json")


def _facts(facts: RequestFacts) -> dict[str, Any]:
    return {
        "key_id": facts.key_id,
        "workspace_id": facts.workspace_id,
        "model": facts.model,
        "outcome": facts.outcome,
        "input_tokens": facts.input_tokens,
        "output_tokens": facts.output_tokens,
        "cache_read_input_tokens": facts.cache_read_input_tokens,
        "cache_creation_input_tokens": facts.cache_creation_input_tokens,
    }
