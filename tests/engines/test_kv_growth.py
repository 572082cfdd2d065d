"""KV cells on demand: a context that runs out of cells is recreated larger with every
sequence moved over, and greedy output is the same as in a context that never grew."""

from __future__ import annotations

import asyncio

import pytest

from epistula.engines.base import Finished, GenerationRequest, SamplingParams, Token
from epistula.engines.llamacpp.engine import LlamaCppEngine
from real_parts import smollm2_gguf

MODEL = smollm2_gguf()

pytestmark = pytest.mark.model

CHAT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"


async def greedy_run(eng: LlamaCppEngine, prompt: tuple[int, ...], max_tokens: int) -> list[int]:
    request = GenerationRequest(prompt=prompt, sampling=SamplingParams(max_tokens=max_tokens, temperature=0))
    events = [event async for event in eng.generate(request)]
    assert isinstance(events[-1], Finished) and events[-1].reason == "max_tokens"
    return [e.id for e in events if isinstance(e, Token)]


def test_a_sequence_outgrowing_its_cells_moves_to_a_larger_context_unchanged() -> None:
    async def scenario() -> None:
        # 16 streams of at most 512 cells start at 256 each; one request needs ~330.
        growing = LlamaCppEngine(str(MODEL), n_ctx=512, n_seq_max=16, n_threads=1)
        fixed = LlamaCppEngine(str(MODEL), n_ctx=512, n_seq_max=1, n_threads=1)  # 512 cells from the start
        try:
            await growing.start()
            await fixed.start()
            assert growing._scheduler is not None and fixed._scheduler is not None
            assert growing._scheduler.stats()["kv_cells"] == 16 * 256
            text = CHAT.format("Write a poem about the sea. " + "The waves roll in and out. " * 28)
            prompt = tuple(growing.tokenize(text))
            assert 200 < len(prompt) < 250
            idle = await greedy_run(growing, tuple(growing.tokenize(CHAT.format("Hi"))), 4)  # an idle cache to move
            grown = await greedy_run(growing, prompt, 100)  # crosses 256 cells while decoding
            assert growing._scheduler.stats()["kv_cells"] == 16 * 512
            assert fixed._scheduler.stats()["kv_cells"] == 512
            assert grown == await greedy_run(fixed, prompt, 100)
            assert idle == await greedy_run(fixed, tuple(fixed.tokenize(CHAT.format("Hi"))), 4)
        finally:
            await growing.close()
            await fixed.close()

    asyncio.run(scenario())
