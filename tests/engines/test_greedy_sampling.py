"""Greedy decoding takes the argmax of the logits row in numpy instead of a native sampler
chain: it must pick exactly the token llama.cpp's own greedy sampler picks, at every
position of a real prompt and along a real generation."""

from __future__ import annotations

from collections.abc import Iterator

import llama_cpp.llama_cpp as ll
import pytest

from epistula.engines.base import SamplingParams
from epistula.engines.llamacpp.native import NativeBatch, NativeContext, NativeModel, SamplerChain
from real_parts import smollm2_gguf

PROMPT = "<|im_start|>user\nName three rivers and say one thing about each.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def model() -> Iterator[NativeModel]:
    loaded = NativeModel(str(smollm2_gguf()))
    yield loaded
    loaded.free()


def _native_greedy() -> SamplerChain:
    chain = SamplerChain(ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params()))
    ll.llama_sampler_chain_add(chain.handle, ll.llama_sampler_init_greedy())
    return chain


@pytest.mark.model
def test_greedy_argmax_matches_the_native_greedy_sampler(model: NativeModel) -> None:
    fast = model.sampler_chain(SamplingParams(max_tokens=1, temperature=0))
    assert fast.greedy and fast.handle is None  # no native chain to build or free
    native = _native_greedy()
    ctx = NativeContext(model, n_ctx=1024, n_seq_max=1, n_batch=256, n_threads=1, kv_unified=True)
    batch = NativeBatch(256)
    try:
        prompt = model.tokenize(PROMPT)
        for pos, token in enumerate(prompt):  # logits at every prompt position: many distributions
            batch.add(token, pos, 0, True)
        assert ctx.decode(batch) == 0
        picks = [ctx.sample(fast, i) for i in range(len(prompt))]
        assert picks == [ctx.sample(native, i) for i in range(len(prompt))]
        assert len(set(picks)) > 5
        pos, token = len(prompt), picks[-1]
        for _ in range(24):  # and along the generation, one row per step
            batch.clear()
            batch.add(token, pos, 0, True)
            assert ctx.decode(batch) == 0
            token = ctx.sample(fast, 0)
            assert token == ctx.sample(native, 0)
            pos += 1
    finally:
        native.free()
        fast.free()
        batch.free()
        ctx.free()


@pytest.mark.model
def test_sampling_with_a_grammar_or_a_temperature_keeps_the_native_chain(model: NativeModel) -> None:
    for sampling in (
        SamplingParams(max_tokens=1, temperature=0, grammar='root ::= "yes" | "no"'),
        SamplingParams(max_tokens=1, temperature=0.7, seed=1),
    ):
        chain = model.sampler_chain(sampling)
        try:
            assert not chain.greedy and chain.handle is not None
        finally:
            chain.free()
