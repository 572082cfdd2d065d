"""List endpoints: the page a request asks for and the page it answers."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from epistula.api.request import query_limit
from epistula.errors import InvalidRequestError

P = TypeVar("P", bound=BaseModel)
M = TypeVar("M")
PAGE_PREFIX = "page_"


class Cursor(TypedDict):
    """``limit``, ``before_id`` and ``after_id`` as the stores take them (an empty id is none)."""

    limit: int
    before_id: str | None
    after_id: str | None


def cursor(request: Request) -> Cursor:
    query = request.query_params
    return Cursor(
        limit=query_limit(request),
        before_id=query.get("before_id") or None,
        after_id=query.get("after_id") or None,
    )


def listed(page: type[P], data: list[M], has_more: bool, key: Callable[[M], str] = attrgetter("id"), **extra: Any) -> P:
    """``page`` of ``data``, its first and last ids read with ``key``."""
    return page(
        data=data,
        has_more=has_more,
        first_id=key(data[0]) if data else None,
        last_id=key(data[-1]) if data else None,
        **extra,
    )


def page_cursor(last_id: str) -> str:
    """The opaque ``next_page`` cursor after the object ``last_id`` (``page_`` + base64)."""
    return PAGE_PREFIX + base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_page(page: str) -> str:
    """The object id a ``page`` cursor continues after (400 for anything else)."""
    if not page.startswith(PAGE_PREFIX):
        raise InvalidRequestError("page: invalid page cursor")
    token = page[len(PAGE_PREFIX) :]
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequestError("page: invalid page cursor") from None
