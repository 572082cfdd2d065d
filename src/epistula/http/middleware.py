"""Pure ASGI middleware: a request id and the organisation header on every response,
and the Anthropic envelope for anything that escapes the routes."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from epistula import ids

from .errors import envelope, error_headers, to_api_error

log = logging.getLogger("epistula.access")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, organization_id: str) -> None:
        self.app = app
        self.organization_id = organization_id.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ids.request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        status = 0
        t0 = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"request-id", request_id.encode()))
                headers.append((b"anthropic-organization-id", self.organization_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # the last line of defence: still an Anthropic envelope
            if started:
                raise
            error = to_api_error(exc)
            body = json.dumps(envelope(error, request_id).model_dump(mode="json", exclude_none=True)).encode()
            headers = [(b"content-type", b"application/json")]
            headers += [(k.encode(), v.encode()) for k, v in error_headers(error).items()]
            await send_wrapper({"type": "http.response.start", "status": error.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - t0) * 1000, 1),
                },
            )
