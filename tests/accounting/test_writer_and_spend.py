"""The background usage writer and the month-to-date spend tracker, on a real SQLite
database: no row lost on a clean close, no usage counted twice or missed when the
tracker's cutoff moves while rows are still buffered."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from epistula.accounting.pricing import PriceTable
from epistula.accounting.records import TokenCounts, UsageRecord
from epistula.accounting.spend import SpendTracker, month_bounds
from epistula.accounting.usage_store import UsageQuery, UsageStore
from epistula.accounting.writer import UsageWriter
from epistula.config import ModelPrice
from epistula.storage.database import Database, open_database

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def record(t: float, *, ws: str = "wrkspc_a", tokens: int = 1_000, tier: str = "standard") -> UsageRecord:
    return UsageRecord(
        request_id="req_t",
        created_at=t,
        workspace_id=ws,
        api_key_id="apikey_1",
        model="m",
        service_tier=tier,  # type: ignore[arg-type]
        batch=tier == "batch",
        outcome="succeeded",
        tokens=TokenCounts(uncached_input_tokens=tokens),
        latency_ms=1.0,
        ttft_ms=None,
    )


def stores(tmp_path: Path) -> tuple[Database, UsageStore]:
    main = open_database(None, tmp_path)
    return main, UsageStore(main)


def test_close_writes_every_buffered_row(tmp_path: Path) -> None:
    main, store = stores(tmp_path)

    async def scenario() -> int:
        writer = UsageWriter(interval=3600, max_batch=500)
        for i in range(1_234):
            writer.record(record(T0 + i))
        writer.start(store)  # rows recorded before the store opened wait in the buffer
        for i in range(66):
            writer.record(record(T0 + 2_000 + i))
        await writer.close()
        return writer.pending

    assert asyncio.run(scenario()) == 0
    assert store.count() == 1_300
    main.close()


def test_flush_makes_rows_visible_at_once(tmp_path: Path) -> None:
    main, store = stores(tmp_path)

    async def scenario() -> int:
        writer = UsageWriter(interval=3600)
        writer.start(store)
        writer.record(record(T0))
        await writer.flush()
        n = store.count()
        await writer.close()
        return n

    assert asyncio.run(scenario()) == 1
    main.close()


def test_month_bounds() -> None:
    assert month_bounds(T0 + 5) == (T0, 1_769_904_000.0)  # 2026-02-01
    dec = 1_764_547_200.0  # 2025-12-01
    assert month_bounds(dec + 1) == (dec, T0)


def test_spend_counts_local_and_other_processes_rows_once(tmp_path: Path) -> None:
    """$10/MTok: 1,000 tokens cost 1 cent. This process records 3 rows (one batch, at
    half price), another process 2 rows; last month's row does not count."""
    main, store = stores(tmp_path)
    other_process = open_database(None, tmp_path)
    other = UsageStore(other_process)
    now = [T0 + 10 * 86400]
    prices = PriceTable({"m": ModelPrice(input=Decimal(10))})

    async def scenario() -> list[Decimal]:
        writer = UsageWriter(interval=3600)
        tracker = SpendTracker(prices, writer, refresh_interval=0.0, clock=lambda: now[0])
        writer.start(store)
        tracker.attach(store)
        other.insert([record(T0 - 1), record(T0 + 1)])  # December's row, and one this month
        seen = [await tracker.spent_cents("wrkspc_a")]  # 1: the other process's row
        for t, tier in ((now[0] + 1, "standard"), (now[0] + 2, "batch"), (now[0] + 3, "standard")):
            rec = record(t, tier=tier)
            writer.record(rec)  # still buffered: the tracker counts it from memory
            tracker.observe(rec)
        now[0] += 10
        seen.append(await tracker.spent_cents("wrkspc_a"))  # 3.5, and starts a refresh
        await asyncio.sleep(0.2)
        other.insert([record(now[0] - 1)])
        now[0] += 10
        seen.append(await tracker.spent_cents("wrkspc_a"))  # after the refresh: 3.5 (not 6)
        await asyncio.sleep(0.2)
        seen.append(await tracker.spent_cents("wrkspc_a"))  # the other process's new row: 4.5
        seen.append(await tracker.spent_cents("wrkspc_b"))
        await writer.close()
        return seen

    assert asyncio.run(scenario()) == [Decimal(1), Decimal("3.5"), Decimal("3.5"), Decimal("4.5"), Decimal(0)]
    assert store.aggregate(UsageQuery(start=T0, end=T0 + 86400 * 31))[0].requests == 5  # + December's
    other_process.close()
    main.close()
