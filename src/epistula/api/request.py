"""Reading a request: size limit, JSON, typed validation, API version, credentials."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from epistula.api.state import AppState
from epistula.api.workers import Refusal, attempt
from epistula.auth.keys import AdminPrincipal, Principal
from epistula.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    RequestTooLargeError,
)
from epistula.generation.budgets import check_block_budget, check_schema_budgets
from epistula.generation.validation import check_version, check_version_rules, format_validation_error
from epistula.observability.context import current_request

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.epistula
    return state


def public_base_url(request: Request) -> str:
    """The base of URLs this server puts in responses: ``public_base_url`` when configured,
    else the socket address the connection reached. Never the ``Host`` header, which any
    client sets; the scheme is the one uvicorn accepted (``X-Forwarded-Proto`` counts only
    from ``forwarded_allow_ips``)."""
    configured = app_state(request).settings.public_base_url
    if configured:
        return configured.rstrip("/")
    server = request.scope.get("server")
    scheme = request.url.scheme
    if not server:
        return f"{scheme}://localhost"
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in str(host) else str(host)
    default = (scheme, port) in (("http", 80), ("https", 443))
    return f"{scheme}://{host}" if default or port is None else f"{scheme}://{host}:{port}"


def _credentials(request: Request) -> list[str]:
    """The key comes in ``x-api-key`` or ``Authorization: Bearer`` (SDK 2.x); when both are
    sent (Claude Code with two variables set), either one being valid is enough."""
    candidates: list[str] = []
    if key := request.headers.get("x-api-key"):
        candidates.append(key.strip())
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        candidates.append(auth[7:].strip())
    if not candidates:
        raise AuthenticationError("x-api-key header is required")
    return candidates


def _client(request: Request) -> str:
    """The client's address (the forwarded one only from a trusted proxy: uvicorn's rule)."""
    return request.client.host if request.client else "unknown"


async def _verified(request: Request, check: Callable[[list[str]], T | None]) -> tuple[T | None, list[str]]:
    """Run ``check`` on the request's credentials off the event loop (a database read),
    behind the failed-authentication throttle of the client's address."""
    state = app_state(request)
    client = _client(request)
    throttled = client not in state.settings.auth_throttle_exempt
    if throttled:
        state.auth_throttle.check(client)
    candidates = _credentials(request)
    found = await asyncio.to_thread(check, candidates)
    if found is None and throttled:
        state.auth_throttle.failed(client)
    return found, candidates


def _first(verify: Callable[[str], T | None]) -> Callable[[list[str]], T | None]:
    def check(candidates: list[str]) -> T | None:
        return next((p for p in map(verify, candidates) if p is not None), None)

    return check


async def authenticate(request: Request) -> Principal:
    """A workspace API key. Admin keys are not API keys: they get the same 401 as an
    unknown key, as on the real Messages API."""
    principal, _ = await _verified(request, _first(app_state(request).keys.verify))
    if principal is None:
        raise AuthenticationError("invalid x-api-key")
    if (facts := current_request.get()) is not None:  # for the access log
        facts.key_id, facts.workspace_id = principal.key_id, principal.workspace_id
    return principal


async def authenticate_admin(request: Request) -> AdminPrincipal:
    """An Admin API key, for ``/v1/organizations/...``. A valid ordinary API key gets
    ``403 permission_error`` (it is a real credential without the right), anything else 401."""
    keys = app_state(request).keys
    admin, candidates = await _verified(request, _first(keys.verify_admin))
    if admin is not None:
        return admin
    if await asyncio.to_thread(_first(keys.verify), candidates) is not None:
        raise PermissionDeniedError(
            "This endpoint requires an Admin API key; workspace API keys cannot use the Admin API."
        )
    raise AuthenticationError("invalid x-api-key")


def api_version(request: Request) -> str:
    values = request.headers.getlist("anthropic-version")
    return check_version(", ".join(values) if values else None)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes, received within ``timeout_request_body``."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise RequestTooLargeError(f"Request exceeds the maximum allowed number of bytes ({limit}).")
    chunks: list[bytes] = []
    size = 0
    deadline = app_state(request).settings.timeout_request_body
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestTooLargeError(f"Request exceeds the maximum allowed number of bytes ({limit}).")
                chunks.append(chunk)
    except TimeoutError:
        raise InvalidRequestError(f"The request body did not arrive within {deadline:g} seconds") from None
    return await off_loop(size, lambda: b"".join(chunks))  # (copying MBs releases the GIL)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(data: object) -> bool:
    """``json.loads`` turns ``"\\ud800"`` into a str no UTF-8 codec can encode: every later
    step (tokenizer, database, the JSON of an error that echoes it) would fail with a 500."""
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


OFFLOAD_BYTES = 1 << 16
"""Bodies larger than this are decoded and validated in a worker thread, off the event loop."""
PREFLIGHT_BYTES = 1 << 18
"""Request params larger than this are checked in a worker process before this one decodes
them (:func:`read_params`)."""


async def off_loop(size: int, work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work) if size > OFFLOAD_BYTES else work()


async def json_body(request: Request, limit: int) -> bytes:
    body = await read_body(request, limit)
    ctype = request.headers.get("content-type", "")
    if ctype and "json" not in ctype.lower():
        raise InvalidRequestError(f"Unsupported content type: {ctype.split(';')[0]}; expected application/json")
    if not body.strip():
        raise InvalidRequestError("request body is empty; expected a JSON object")
    return body


def decode_json(body: bytes) -> dict[str, Any]:
    """A JSON object from ``body``, or the 400 that describes what is wrong with it."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}") from exc
    except RecursionError:  # ``[[[[...`` thousands deep: the C decoder gives up
        raise InvalidRequestError("The request body is not valid JSON: it is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(data):
        raise InvalidRequestError(
            "The request body is not valid JSON: a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)",
            details={"error_code": "request_body_encoding_invalid"},
        )
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object")
    return data


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    body = await json_body(request, limit)
    return await off_loop(len(body), lambda: decode_json(body))


def validated_params(body: bytes, model: type[M], version: str | None) -> M:
    """``body`` as ``model``: JSON, the breaking rules of API ``version`` (where the endpoint
    has versioned fields), the block and schema budgets (on the raw JSON, before the costly
    validation), then strict validation."""
    raw = decode_json(body)
    if version is not None:
        check_version_rules(raw, version)
    check_block_budget(raw)
    check_schema_budgets(raw)
    return parse(model, raw)


def params_refusal(body: bytes, model: type[BaseModel], version: str | None) -> Refusal | None:
    """What :func:`validated_params` would raise for ``body``, or None if it would pass
    (run in a worker process: see :func:`read_params`)."""
    outcome = attempt(lambda: validated_params(body, model, version))
    return outcome if isinstance(outcome, Refusal) else None


async def read_params(request: Request, model: type[M], *, version: str | None = None) -> M:
    """The request body as ``model`` (:func:`validated_params`), in a worker thread for big
    bodies. A body over ``PREFLIGHT_BYTES`` is first checked in a worker process, so that
    one this process would refuse (a multi-MB hostile schema, too many blocks) is refused
    without this process ever decoding it: decoding and validating hold the GIL, for
    hundreds of milliseconds at these sizes, and ``/health`` and every stream wait for it."""
    state = app_state(request)
    body = await json_body(request, state.settings.max_body_bytes)
    if len(body) > PREFLIGHT_BYTES:
        refusal = await state.workers.run(params_refusal, body, model, version)
        if refusal is not None:
            raise refusal.error()
    return await off_loop(len(body), lambda: validated_params(body, model, version))


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Strict: JSON types are not coerced (``"max_tokens": true`` or ``"64"`` is a 400, not 1 or 64)."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise InvalidRequestError(format_validation_error(exc)) from exc


def query_limit(request: Request) -> int:
    """The ``limit`` query parameter of list endpoints: 1 to 1000, default 20."""
    raw = request.query_params.get("limit", "20")
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequestError("limit: Input should be a valid integer") from None
    if not 1 <= limit <= 1000:
        raise InvalidRequestError("limit: Input should be greater than or equal to 1 and less than or equal to 1000")
    return limit


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as the SDKs send it (``true``/``false``)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidRequestError(f"{name}: Input should be a valid boolean, unable to interpret input")


def query_list(request: Request, name: str) -> list[str] | None:
    """``name[]=a&name[]=b`` (what the SDKs send), repeated ``name``, or comma-separated."""
    raw = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    if not raw:
        return None
    return list(dict.fromkeys(part.strip() for value in raw for part in value.split(",") if part.strip()))
