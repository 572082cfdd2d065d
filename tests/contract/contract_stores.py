"""What the contract fixtures (``conftest.py``) hand out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from epistula.storage.batches import BatchStore
from epistula.storage.database import Database
from epistula.storage.files import FileStore
from epistula.storage.tenancy import TenancyStore


@dataclass
class Stores:
    """What one server process opens: the database and the stores of each feature."""

    database: Database
    batches: BatchStore
    files: FileStore
    tenancy: TenancyStore

    def close(self) -> None:
        """The process goes away: its worker locks and connections with it."""
        self.batches.close()
        self.database.close()


Opener = Callable[[], Stores]
