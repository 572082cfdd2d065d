"""Stores on one database per backend: SQLite always, PostgreSQL when
``EPISTULA_TEST_POSTGRES_URL`` is set (each PostgreSQL test gets a private schema).
Opening several stands for several server processes sharing the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batches.support import BACKENDS, postgres_schema
from contract.contract_stores import Opener, Stores
from epistula.storage.batches import BatchStore
from epistula.storage.database import open_database
from epistula.storage.files import FileStore
from epistula.storage.tenancy import TenancyStore


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[Stores] = []

    def open_on(url: str | None) -> Opener:
        def open_stores() -> Stores:
            database = open_database(url, tmp_path)
            opened.append(Stores(database, BatchStore(database), FileStore(database), TenancyStore(database)))
            return opened[-1]

        return open_stores

    if request.param == "sqlite":
        yield open_on(None)
    else:
        with postgres_schema() as url:
            yield open_on(url)
            for stores in opened:  # before the schema is dropped
                stores.close()
    for stores in opened:
        stores.close()


@pytest.fixture()
def stores(opener: Opener) -> Stores:
    return opener()


@pytest.fixture()
def batch_store(stores: Stores) -> BatchStore:
    return stores.batches


@pytest.fixture()
def file_store(stores: Stores) -> FileStore:
    return stores.files


@pytest.fixture()
def tenancy(stores: Stores) -> TenancyStore:
    return stores.tenancy
