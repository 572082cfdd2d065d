"""Month-to-date spend per workspace, cheap enough to check on every request.

The database is the shared truth (several replicas write usage rows), but querying it
on every request would put a read on the request path. So each process keeps, per
workspace and calendar month (UTC): the database total up to a cutoff time, plus the
cost of the rows it recorded itself after that cutoff. A refresh (in the background,
every ``refresh_interval`` seconds) first writes this process's buffered rows, then
moves the cutoff: rows up to the new cutoff are in the query, rows after it are the
local list, so nothing is counted twice or missed. Other replicas' spending is seen
at the next refresh.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from .pricing import EXACT, PriceTable
from .records import UsageRecord
from .usage_store import UsageQuery, UsageStore
from .writer import UsageWriter

log = logging.getLogger("epistula.accounting")


def month_bounds(now: float) -> tuple[float, float]:
    """Start and end (POSIX seconds) of the UTC calendar month containing ``now``."""
    moment = datetime.fromtimestamp(now, UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), end.timestamp()


@dataclass
class _Month:
    workspace_id: str
    start: float
    end: float
    db_cents: Decimal = Decimal(0)
    cutoff: float = -math.inf
    """Rows up to here are in ``db_cents``; this process's later rows are in ``recent``."""
    recent: list[tuple[float, Decimal]] = field(default_factory=list)
    recent_cents: Decimal = Decimal(0)
    """The sum of ``recent``, kept as rows arrive (summing on every check is quadratic)."""
    refreshed_at: float = 0.0
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    refreshing: asyncio.Task[None] | None = None

    def cents(self) -> Decimal:
        return EXACT.add(self.db_cents, self.recent_cents)

    def add(self, t: float, cents: Decimal) -> None:
        self.recent.append((t, cents))
        self.recent_cents = EXACT.add(self.recent_cents, cents)

    def settle(self, db_cents: Decimal, cutoff: float) -> None:
        """The database holds everything up to ``cutoff``: keep only later local rows."""
        self.db_cents = db_cents
        self.cutoff = cutoff
        self.recent = [(t, c) for t, c in self.recent if t > cutoff]
        total = Decimal(0)
        for _, cents in self.recent:
            total = EXACT.add(total, cents)
        self.recent_cents = total


class SpendTracker:
    def __init__(
        self,
        prices: PriceTable,
        writer: UsageWriter,
        *,
        refresh_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prices = prices
        self._writer = writer
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._store: UsageStore | None = None
        self._ready = asyncio.Event()
        self._months: dict[str, _Month] = {}

    def attach(self, store: UsageStore) -> None:
        self._store = store
        self._ready.set()

    def observe(self, record: UsageRecord) -> None:
        """A row this process just recorded (called for every row)."""
        month = self._months.get(record.workspace_id)
        if month is None or not month.start <= record.created_at < month.end or record.created_at <= month.cutoff:
            return
        cents = self._prices.cost_cents(record.model, record.service_tier, record.tokens)
        month.add(record.created_at, cents)

    async def spent_cents(self, workspace_id: str) -> Decimal:
        """The workspace's spend this month so far, in cents."""
        now = self._clock()
        month = self._months.get(workspace_id)
        if month is None or not month.start <= now < month.end:
            start, end = month_bounds(now)
            month = _Month(workspace_id, start, end)
            self._months[workspace_id] = month
            month.refreshing = asyncio.create_task(self._refresh(month))
        if not month.loaded.is_set():
            task = month.refreshing
            if task is not None:
                await asyncio.shield(task)
            if not month.loaded.is_set():  # the load failed: try again next time
                self._months.pop(workspace_id, None)
                return Decimal(0)
        elif month.refreshing is None and time.monotonic() - month.refreshed_at >= self._refresh_interval:
            month.refreshing = asyncio.create_task(self._refresh(month))
        return month.cents()

    async def _refresh(self, month: _Month) -> None:
        try:
            await self._ready.wait()
            assert self._store is not None
            cutoff = self._clock()
            await self._writer.flush()  # our rows up to the cutoff are now in the database
            query = UsageQuery(
                start=month.start,
                end=math.nextafter(min(cutoff, month.end), math.inf),
                group_by=("model", "service_tier"),
                filters={"workspace_id": [month.workspace_id]},
            )
            groups = await asyncio.to_thread(self._store.aggregate, query)
            total = Decimal(0)
            for group in groups:
                model, tier = str(group.keys["model"]), str(group.keys["service_tier"])
                total = EXACT.add(total, self._prices.cost_cents(model, tier, group.tokens))
            month.settle(total, cutoff)
            month.refreshed_at = time.monotonic()
            month.loaded.set()
        except Exception:
            log.exception("loading the spend of workspace %s failed", month.workspace_id)
        finally:
            month.refreshing = None
