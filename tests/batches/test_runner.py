"""The batch worker in-process, with a controllable clock: priority, expiry, the
29-day purge, overload back-off and graceful stop."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from epistula.auth.keys import Principal
from epistula.batches.runner import BatchRunner
from epistula.batches.service import BATCH_TTL, RESULTS_RETENTION, BatchService
from epistula.engines.base import GenerationRequest, TokenEvent
from epistula.engines.fake import FakeEngine
from epistula.errors import NotFoundError
from epistula.generation.gate import Gate
from epistula.generation.service import BATCH_PRIORITY, LIVE_PRIORITY, MessageRequest, MessageService
from epistula.http.app import build_catalog
from epistula.models.catalog import Catalog
from epistula.models.loader import build_engine
from epistula.protocol.messages import MessageCreateParams
from epistula.storage.batches import BatchStore
from epistula.storage.database import open_database
from epistula.storage.schema import batch_requests

from .support import fake_settings

WS = "wrkspc_runner"


class Clock:
    """Real time plus a jump we control (the runner's back-off needs time to pass)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def body(*texts: str) -> dict[str, Any]:
    return {
        "requests": [
            {
                "custom_id": f"r{i}",
                "params": {"model": "claude-haiku-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": t}]},
            }
            for i, t in enumerate(texts)
        ]
    }


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def results(service: BatchService, batch_id: str) -> list[dict[str, Any]]:
    lines = b"".join([chunk async for chunk in await service.results(WS, batch_id)])
    return [json.loads(line) for line in lines.splitlines()]


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.clock = Clock()
        self.database = open_database(None, tmp)
        self.store = BatchStore(self.database)
        self.service = BatchService(self.store, clock=self.clock)
        self.catalog: Catalog | None = None
        self.runner: BatchRunner | None = None

    async def start(self, **kwargs: Any) -> BatchRunner:
        if self.catalog is None:
            self.catalog = await build_catalog(fake_settings(self.tmp), build_engine)
        kwargs.setdefault("poll_interval", 0.05)
        self.runner = BatchRunner(self.store, MessageService(self.catalog, Gate()), clock=self.clock, **kwargs)
        self.service.attach(self.runner)
        await self.runner.start()
        return self.runner

    async def ended(self, batch_id: str) -> bool:
        return (await self.service.get(WS, batch_id)).processing_status == "ended"

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
        self.store.close()
        self.database.close()


@pytest.fixture()
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_batch_items_reach_the_engine_behind_live_traffic(tmp_path: Path) -> None:
    """The service passes the item's priority to the engine: batch items are demoted."""
    seen: list[GenerationRequest] = []

    class Recorder(FakeEngine):
        def generate(self, request: GenerationRequest) -> AsyncIterator[TokenEvent]:
            seen.append(request)
            return super().generate(request)

    async def scenario() -> None:
        catalog = await build_catalog(fake_settings(tmp_path), lambda _s, _c: Recorder())
        service = MessageService(catalog, Gate())
        principal = Principal(key_id="", workspace_id=WS, name="batch")
        for priority in (LIVE_PRIORITY, BATCH_PRIORITY):
            params = MessageCreateParams.model_validate(
                {"model": "claude-haiku-4-5", "max_tokens": 4, "messages": [{"role": "user", "content": "#say:x"}]}
            )
            generation = await service.start(MessageRequest(params, principal, "2023-06-01", "req", priority=priority))
            async for _ in generation.events:
                pass
            await generation.close()

    run(scenario())
    assert [r.priority for r in seen] == [LIVE_PRIORITY, BATCH_PRIORITY]
    assert LIVE_PRIORITY < BATCH_PRIORITY  # lower numbers run first: live traffic wins


def test_requests_still_open_after_24_hours_expire(harness: Harness) -> None:
    async def scenario() -> None:
        record = await harness.service.create(WS, "2023-06-01", body("#say:a", "#say:b"))
        harness.clock.offset = BATCH_TTL + 1  # the server was down for a day
        await harness.start()
        await until(lambda: harness.ended(record.id))
        batch = await harness.service.get(WS, record.id)
        assert batch.counts.expired == 2 and batch.counts.succeeded == 0
        assert [r["result"] for r in await results(harness.service, record.id)] == [{"type": "expired"}] * 2
        await harness.close()

    run(scenario())


def test_results_are_purged_after_29_days(harness: Harness) -> None:
    async def scenario() -> None:
        await harness.start()
        record = await harness.service.create(WS, "2023-06-01", body("#say:keep"))
        await until(lambda: harness.ended(record.id))
        assert len(await results(harness.service, record.id)) == 1
        await harness.runner.stop()  # type: ignore[union-attr]
        harness.clock.offset = RESULTS_RETENTION + 60
        await harness.start()  # every start runs the purge once
        batch = await harness.service.get(WS, record.id)
        assert batch.archived_at is not None and batch.counts.succeeded == 1
        with pytest.raises(NotFoundError):
            await harness.service.results(WS, record.id)
        await harness.close()

    run(scenario())


def test_overloaded_engine_backs_off_then_gives_up(harness: Harness) -> None:
    async def scenario() -> None:
        await harness.start(overload_backoff=0.01, max_overload_retries=3)
        record = await harness.service.create(WS, "2023-06-01", body("#overload", "#say:fine"))
        await until(lambda: harness.ended(record.id))
        by_id = {r["custom_id"]: r["result"] for r in await results(harness.service, record.id)}
        assert by_id["r1"]["type"] == "succeeded"
        assert by_id["r0"]["type"] == "errored" and by_id["r0"]["error"]["error"]["type"] == "overloaded_error"
        await harness.close()

    run(scenario())


def test_graceful_stop_hands_running_requests_back(harness: Harness) -> None:
    async def scenario() -> None:
        runner = await harness.start(concurrency=2)
        record = await harness.service.create(WS, "2023-06-01", body(*["#slow:200 #say:" + "s" * 20] * 3))

        async def two_running() -> bool:
            return len(runner._inflight) == 2

        await until(two_running)
        await runner.stop()
        harness.runner = None
        reclaimed = harness.store.claim("another-worker", 10, harness.clock())
        assert sorted(c.index for c in reclaimed) == [0, 1, 2]
        assert (await harness.service.get(WS, record.id)).processing_status == "in_progress"
        await harness.close()

    run(scenario())


class Exploding(FakeEngine):
    """Raises an exception of ours (not an engine error) on ``#explode``."""

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenEvent]:
        if "#explode" in self.detokenize(list(request.prompt)):
            raise KeyError("secret detail")
        async for event in super().generate(request):
            yield event


def test_an_item_that_fails_inside_says_where_its_cause_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """An engine failure and an exception of ours each end their item as ``api_error`` whose
    message says what kind of failure it was (never its text) and whose ``request_id`` names
    the log record holding the traceback; params that no longer validate (stored by an older
    version) end as ``invalid_request_error`` naming the field."""

    async def scenario() -> dict[str, Any]:
        harness.catalog = await build_catalog(fake_settings(harness.tmp), lambda _s, _c: Exploding())
        record = await harness.service.create(WS, "2023-06-01", body("#fail-before", "#explode", "#say:old"))
        stale = {"model": "claude-haiku-4-5", "max_tokens": "8", "messages": [{"role": "user", "content": "hi"}]}
        with harness.database.write() as conn:
            conn.execute(update(batch_requests).where(batch_requests.c.idx == 2).values(params=json.dumps(stale)))
        await harness.start()
        await until(lambda: harness.ended(record.id))
        by_id = {r["custom_id"]: r["result"] for r in await results(harness.service, record.id)}
        await harness.close()
        return by_id

    with caplog.at_level(logging.ERROR, logger="epistula.batches"):
        run_result = asyncio.run(scenario())
    engine, ours, stale = (run_result[f"r{i}"]["error"] for i in range(3))
    assert stale["error"]["type"] == "invalid_request_error" and "max_tokens" in stale["error"]["message"]
    for envelope, cause in ((engine, "EngineError"), (ours, "KeyError")):
        assert envelope["error"]["type"] == "api_error", envelope
        assert "server log" in envelope["error"]["message"] and "secret" not in envelope["error"]["message"]
        logged = [r for r in caplog.records if envelope["request_id"] in r.getMessage()]
        assert len(logged) == 1 and logged[0].exc_info is not None, caplog.text
        assert cause in caplog.text.split(envelope["request_id"], 1)[1]
    assert "(KeyError)" in ours["error"]["message"]
