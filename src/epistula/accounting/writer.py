"""Usage rows leave the request path through an in-memory buffer that a background task
writes in batches: a request only appends to a list, and one transaction writes many
rows. ``close`` (the app's clean shutdown) writes whatever is still buffered; only a
crash can lose the last fraction of a second of rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .records import UsageRecord
from .usage_store import UsageStore

log = logging.getLogger("epistula.accounting")


class UsageWriter:
    def __init__(self, *, interval: float = 0.25, max_batch: int = 500, retry_delay: float = 1.0) -> None:
        self._interval = interval
        self._max_batch = max(1, max_batch)
        self._retry_delay = retry_delay
        self._pending: list[UsageRecord] = []
        self._store: UsageStore | None = None
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, record: UsageRecord) -> None:
        """Buffer a row (never blocks, never fails)."""
        self._pending.append(record)
        if len(self._pending) >= self._max_batch:
            self._wake.set()

    def start(self, store: UsageStore) -> None:
        """Begin writing; rows recorded before this wait in the buffer."""
        self._store = store
        self._task = asyncio.create_task(self._loop(), name="usage-writer")

    async def flush(self) -> None:
        """Write every row buffered when called (later ones may ride along). Raises if
        the store fails; unwritten rows stay buffered for the next try."""
        async with self._flush_lock:
            store = self._store
            if store is None:
                return
            target = len(self._pending)
            written = 0
            while written < target and self._pending:
                rows = self._pending[: self._max_batch]
                await asyncio.to_thread(store.insert, rows)
                # Only this coroutine removes rows (under the lock); new ones are appended.
                del self._pending[: len(rows)]
                written += len(rows)

    async def _loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing %d usage rows failed; retrying", len(self._pending))
                await asyncio.sleep(self._retry_delay)

    async def close(self, attempts: int = 3) -> None:
        """Stop the loop after its current write (never mid-insert, which could write a
        row twice), then write the rest."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        for attempt in range(attempts):
            try:
                await self.flush()
                return
            except Exception:
                log.exception("writing usage rows at shutdown failed (attempt %d)", attempt + 1)
                await asyncio.sleep(self._retry_delay)
        if self._pending:
            log.error("%d usage rows could not be written and are lost", len(self._pending))
