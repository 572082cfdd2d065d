"""Who calls, under which API version: the first step of every authenticated handler.

The key is checked before the ``anthropic-version`` header, so a request with neither
is told about its key (401) first, as on the real API.
"""

from __future__ import annotations

from starlette.requests import Request

from epistula.api.request import M, api_version, authenticate, authenticate_admin, parse, read_json
from epistula.auth.keys import AdminPrincipal, Principal

MAX_ADMIN_BODY = 1024 * 1024
"""The largest Admin API request body, in bytes."""


async def authorized(request: Request) -> tuple[Principal, str]:
    """A workspace API key's principal and the API version asked for."""
    principal = await authenticate(request)
    return principal, api_version(request)


async def owned(request: Request, *params: str) -> tuple[str, ...]:
    """:func:`authorized`, then the caller's workspace id and the path parameters
    ``params``: the arguments of a service call on one resource the workspace owns."""
    principal, _ = await authorized(request)
    return (principal.workspace_id, *(request.path_params[name] for name in params))


async def authorized_admin(request: Request) -> AdminPrincipal:
    """An Admin API key's principal (the API version is checked, and unused)."""
    admin = await authenticate_admin(request)
    api_version(request)
    return admin


async def admin_params(request: Request, model: type[M]) -> tuple[AdminPrincipal, M]:
    """:func:`authorized_admin`, then the request body as ``model`` (a 400 naming the field)."""
    admin = await authorized_admin(request)
    return admin, parse(model, await read_json(request, MAX_ADMIN_BODY))
