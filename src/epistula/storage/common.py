"""What the stores of every feature share: the storage error, a page of a listing and
the arguments that ask for one, and the API's time format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, Literal, Required, TypedDict, TypeVar

T = TypeVar("T")


class StorageError(Exception):
    """The backing database is unusable (bad URL, unreachable server, failed migration)."""


@dataclass(frozen=True, slots=True)
class ListPage(Generic[T]):
    items: list[T] = field(default_factory=list)
    has_more: bool = False


class PageQuery(TypedDict, total=False):
    """The paging arguments of a store's ``list_...`` method (the base of each one's
    query, for the services that pass them on): at most ``limit`` items, after or before
    the one with the cursor id."""

    limit: Required[int]
    before_id: str | None
    after_id: str | None


def rfc3339(ts: float, timespec: Literal["seconds", "microseconds"] = "microseconds") -> str:
    """A POSIX time as the API writes it: RFC 3339, UTC, ``Z`` suffix (whole seconds for
    usage report buckets and rate-limit resets)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def optional_rfc3339(ts: float | None) -> str | None:
    """:func:`rfc3339` of a time that may be unset (None stays None)."""
    return None if ts is None else rfc3339(ts)


class QuotaExceeded(Exception):
    """A write would take a workspace past one of its quotas; nothing was written."""

    def __init__(self, quota: str, limit: int, used: int, adding: int) -> None:
        super().__init__(f"{quota}: {used} + {adding} exceeds {limit}")
        self.quota = quota
        """Which one (``file_bytes``, ``file_count``, ``batch_requests``, ``batch_bytes``)."""
        self.limit = limit
        self.used = used
        """What the workspace holds already."""
        self.adding = adding
