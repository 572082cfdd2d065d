"""Idle prefix caches leave a unified KV cache when the engine runs out of work: all but the
most recently used one are parked in host memory, and a later prompt that starts with a
parked prefix gets its cells back instead of prefilling them (same greedy output)."""

from __future__ import annotations

import asyncio

import pytest

from epistula.engines.base import Finished, GenerationRequest, SamplingParams, Token, TokenEvent
from epistula.engines.llamacpp.engine import LlamaCppEngine
from epistula.engines.llamacpp.parking import Parked, ParkingLot
from real_parts import smollm2_gguf

MODEL = smollm2_gguf()

CHAT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
GREEDY = SamplingParams(max_tokens=8, temperature=0)


async def generate(eng: LlamaCppEngine, text: str, namespace: str = "ns") -> tuple[list[int], Finished]:
    request = GenerationRequest(prompt=tuple(eng.tokenize(text)), sampling=GREEDY, cache_namespace=namespace)
    events: list[TokenEvent] = [event async for event in eng.generate(request)]
    assert isinstance(events[-1], Finished)
    return [e.id for e in events if isinstance(e, Token)], events[-1]


async def settled(eng: LlamaCppEngine, parked: int) -> dict[str, int]:
    """The scheduler's counts once it has settled (it does so right after its last step)."""
    assert eng._scheduler is not None
    for _ in range(500):
        stats = eng._scheduler.stats()
        if stats["active"] == 0 and stats["parked_caches"] == parked:
            return stats
        await asyncio.sleep(0.01)
    raise AssertionError(eng._scheduler.stats())


@pytest.mark.model
def test_idle_caches_are_parked_and_restored_with_the_same_output() -> None:
    async def scenario() -> None:
        eng = LlamaCppEngine(str(MODEL), n_ctx=4096, n_seq_max=4, kv_unified=True, n_threads=1)
        await eng.start()
        try:
            prompts = [CHAT.format(f"Write one line about the number {i} and the sea.") for i in range(3)]
            first = [await generate(eng, p) for p in prompts]
            # three idle caches: the two older ones are parked, the newest stays in the cache
            stats = await settled(eng, parked=2)
            assert stats["cached_slots"] == 1
            again, done = await generate(eng, prompts[0] + "")
            assert again == first[0][0]
            # its whole prompt but the last token came back from host memory
            assert done.cached_tokens == len(eng.tokenize(prompts[0])) - 1
            await settled(eng, parked=2)  # prompt 0 came back, and prompt 2's cache went out
            other, done = await generate(eng, prompts[1], namespace="elsewhere")
            assert done.cached_tokens == 0  # a parked cache serves its own namespace only
            assert other == first[1][0]
        finally:
            await eng.close()

    asyncio.run(scenario())


def test_the_lot_keeps_its_byte_budget_and_longest_prefixes() -> None:
    import ctypes

    def parked(tokens: tuple[int, ...], size: int, tick: int, namespace: str = "a") -> Parked:
        return Parked(namespace, tokens, (ctypes.c_uint8 * size)(), tick)

    lot = ParkingLot(budget_bytes=100)
    assert not lot.park(parked((1,), 101, 0))  # larger than the whole budget
    assert lot.park(parked((1, 2), 40, 1))
    assert lot.park(parked((1, 2, 3), 40, 2))  # covers (1, 2): that one goes
    assert len(lot) == 1 and lot.nbytes == 40
    assert lot.park(parked((7,), 40, 3))
    assert lot.park(parked((8,), 40, 4))  # over budget: the least recently used, (1, 2, 3), goes
    assert lot.nbytes == 80 and lot.best("a", (1, 2, 3, 4)) == (None, 0)
    entry, n = lot.best("a", (8, 9))
    assert entry is not None and n == 1 and lot.best("b", (8, 9)) == (None, 0)
    lot.take(entry)
    assert len(lot) == 1 and lot.nbytes == 40
