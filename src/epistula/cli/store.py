"""What ``epistula keys`` and ``epistula workspaces`` share: the key store of the database
the server uses (SQLite in the data dir, or ``--database-url``), so a key disabled here
gets 401 on the next request to any running replica; API errors as one line and exit 1;
and plain-text tables."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import typer

from epistula.auth.bootstrap import open_key_store
from epistula.auth.keys import KeyStore
from epistula.config import load_settings
from epistula.errors import ApiError
from epistula.storage.common import ListPage, rfc3339
from epistula.storage.database import open_database

PAGE = 1000


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Row = TypeVar("Row", bound=_Identified)


@contextmanager
def key_store(command: str, config: Path | None, data_dir: Path | None, database_url: str | None) -> Iterator[KeyStore]:
    """The key store; an :class:`ApiError` inside prints ``epistula COMMAND: message`` and exits 1."""
    settings = load_settings(config, data_dir=data_dir, database_url=database_url)
    with open_database(settings.database_url, settings.data_dir) as database:
        try:
            yield open_key_store(settings, database)
        except ApiError as exc:
            print(f"epistula {command}: {exc.message}", file=sys.stderr)
            raise typer.Exit(1) from None


def list_all(fetch: Callable[[str | None], ListPage[Row]]) -> list[Row]:
    """Every item of a paged listing: ``fetch(after_id)`` until ``has_more`` is false."""
    rows: list[Row] = []
    after: str | None = None
    while True:
        page = fetch(after)
        rows.extend(page.items)
        if not page.has_more or not page.items:
            return rows
        after = page.items[-1].id


def format_time(ts: float | None) -> str:
    return "-" if ts is None else rfc3339(ts, "seconds")


def print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
