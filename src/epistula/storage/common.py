"""What the stores of every feature share: the storage error, a page of a listing,
and the API's time format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

T = TypeVar("T")


class StorageError(Exception):
    """The backing database is unusable (bad URL, unreachable server, failed migration)."""


@dataclass(frozen=True, slots=True)
class ListPage(Generic[T]):
    items: list[T] = field(default_factory=list)
    has_more: bool = False


def rfc3339(ts: float) -> str:
    """A stored POSIX time as the API writes it: RFC 3339, UTC, ``Z`` suffix."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
