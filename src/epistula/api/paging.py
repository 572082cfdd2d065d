"""List endpoints: the page a request asks for and the page it answers."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from epistula.api.request import query_limit

P = TypeVar("P", bound=BaseModel)
M = TypeVar("M")


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
