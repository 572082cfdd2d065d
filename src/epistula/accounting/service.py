"""The accounting unit the app composes: prices, the usage writer, the spend tracker and
the two gate hooks, opened on the app's database and closed after the batch worker
(whose last items still record their rows)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from epistula.config import Settings
from epistula.generation.gate import Gate
from epistula.storage.database import Database

from .hooks import SpendLimitHook, UsageHook
from .pricing import PriceTable
from .spend import SpendTracker
from .usage_store import UsageGroup, UsageQuery, UsageStore
from .writer import UsageWriter


class Accounting:
    def __init__(
        self,
        settings: Settings,
        *,
        resolve_model: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.prices = PriceTable.from_settings(settings, resolve_model)
        self.writer = UsageWriter()
        self.spend = SpendTracker(self.prices, self.writer, clock=clock)
        self.store: UsageStore | None = None
        self._clock = clock

    def spend_limit(self, workspace_id: str) -> Decimal | None:
        """The workspace's monthly limit in USD (None: unlimited)."""
        return self.settings.spend_limits.get(workspace_id, self.settings.default_spend_limit)

    def install(self, gate: Gate) -> None:
        gate.add(SpendLimitHook(self.spend, self.spend_limit, clock=self._clock))
        gate.add(UsageHook(self.writer, self.spend, clock=self._clock))

    def open(self, database: Database) -> None:
        """Start writing usage rows to the database (and reading spend from it)."""
        store = UsageStore(database)
        self.store = store
        self.writer.start(store)
        self.spend.attach(store)

    async def close(self) -> None:
        try:
            await self.writer.close()
        finally:
            self.store = None

    async def aggregate(self, query: UsageQuery) -> list[UsageGroup]:
        """Report data, including every request finished before the call."""
        if self.store is None:
            raise RuntimeError("accounting is not open")
        await self.writer.flush()
        return await asyncio.to_thread(self.store.aggregate, query)
