"""One contract, every limiter backend (in-process, and Redis when configured)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from epistula.limits.backend import Demand, LimiterBackend

from .conftest import BackendFactory

HOUR = 3600.0
"""A window so long that refill during a test is negligible (counts stay exact)."""


def run(make: BackendFactory, scenario: Callable[[LimiterBackend], Awaitable[None]]) -> None:
    async def main() -> None:
        backend = make()
        try:
            await scenario(backend)
        finally:
            await backend.close()

    asyncio.run(main())


def bucket() -> str:
    return uuid.uuid4().hex


def test_a_new_bucket_is_full_and_take_subtracts(make_backend: BackendFactory) -> None:
    async def scenario(b: LimiterBackend) -> None:
        key = bucket()
        first = await b.take([Demand(key, capacity=10, amount=3, window=HOUR)])
        assert first.granted and first.wait == 0
        assert 6.9 < first.levels[0] <= 7.01
        second = await b.take([Demand(key, capacity=10, amount=7, window=HOUR)])
        assert second.granted
        assert second.levels[0] < 0.05

    run(make_backend, scenario)


def test_refusal_changes_nothing_and_says_how_long_to_wait(make_backend: BackendFactory) -> None:
    async def scenario(b: LimiterBackend) -> None:
        key = bucket()
        await b.take([Demand(key, capacity=60, amount=60)])  # 1 unit per second
        refused = await b.take([Demand(key, capacity=60, amount=5)])
        assert not refused.granted
        assert 4.0 < refused.wait <= 5.0  # (5 - level) / rate, with level a sliver above 0
        again = await b.take([Demand(key, capacity=60, amount=5)])
        assert not again.granted and again.levels[0] < 1.0  # the refusal consumed nothing

    run(make_backend, scenario)


def test_waiting_the_advertised_time_is_enough(make_backend: BackendFactory) -> None:
    async def scenario(b: LimiterBackend) -> None:
        key = bucket()
        demand = Demand(key, capacity=100, amount=100, window=1.0)  # refills in one second
        assert (await b.take([demand])).granted
        refused = await b.take([Demand(key, capacity=100, amount=40, window=1.0)])
        assert not refused.granted and refused.wait > 0
        await asyncio.sleep(refused.wait + 0.02)
        assert (await b.take([Demand(key, capacity=100, amount=40, window=1.0)])).granted

    run(make_backend, scenario)


def test_several_buckets_are_all_or_nothing(make_backend: BackendFactory) -> None:
    async def scenario(b: LimiterBackend) -> None:
        roomy, tight = bucket(), bucket()
        await b.take([Demand(tight, capacity=10, amount=9, window=HOUR)])
        refused = await b.take(
            [Demand(roomy, capacity=100, amount=50, window=HOUR), Demand(tight, capacity=10, amount=5, window=HOUR)]
        )
        assert not refused.granted
        assert refused.levels[0] > 99.9  # the roomy bucket was not charged either
        ok = await b.take(
            [Demand(roomy, capacity=100, amount=50, window=HOUR), Demand(tight, capacity=10, amount=1, window=HOUR)]
        )
        assert ok.granted
        assert 49.9 < ok.levels[0] <= 50.1 and ok.levels[1] < 0.1

    run(make_backend, scenario)


def test_a_demand_larger_than_the_bucket_waits_for_a_full_one_and_leaves_debt(make_backend: BackendFactory) -> None:
    async def scenario(b: LimiterBackend) -> None:
        key = bucket()
        big = await b.take([Demand(key, capacity=100, amount=250, window=HOUR)])
        assert big.granted
        assert -150.1 < big.levels[0] < -149.9
        small = await b.take([Demand(key, capacity=100, amount=1, window=HOUR)])
        assert not small.granted

    run(make_backend, scenario)


def test_charge_corrects_both_ways_and_never_overfills(make_backend: BackendFactory) -> None:
    async def scenario(b: LimiterBackend) -> None:
        key = bucket()
        await b.take([Demand(key, capacity=100, amount=80, window=HOUR)])
        await b.charge([Demand(key, capacity=100, amount=-70, window=HOUR)])  # reserved 80, used 10
        probe = await b.take([Demand(key, capacity=100, amount=0, window=HOUR)])
        assert 89.9 < probe.levels[0] <= 90.1
        await b.charge([Demand(key, capacity=100, amount=-1000, window=HOUR)])
        probe = await b.take([Demand(key, capacity=100, amount=0, window=HOUR)])
        assert probe.levels[0] == 100
        await b.charge([Demand(key, capacity=100, amount=130, window=HOUR)])  # used more than reserved
        probe = await b.take([Demand(key, capacity=100, amount=1, window=HOUR)])
        assert not probe.granted and probe.levels[0] < -29.9

    run(make_backend, scenario)


def test_concurrent_takes_never_overspend(make_backend: BackendFactory) -> None:
    async def scenario(b: LimiterBackend) -> None:
        key = bucket()
        results = await asyncio.gather(*(b.take([Demand(key, capacity=25, amount=1, window=HOUR)]) for _ in range(80)))
        assert sum(r.granted for r in results) == 25

    run(make_backend, scenario)


def test_buckets_are_independent(make_backend: BackendFactory) -> None:
    async def scenario(b: LimiterBackend) -> None:
        one, two = bucket(), bucket()
        await b.take([Demand(one, capacity=5, amount=5, window=HOUR)])
        assert (await b.take([Demand(two, capacity=5, amount=5, window=HOUR)])).granted
        assert not (await b.take([Demand(one, capacity=5, amount=1, window=HOUR)])).granted

    run(make_backend, scenario)
