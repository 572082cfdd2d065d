"""Raw llama.cpp decode throughput, the ceiling any server on top of it can reach.

``measure_raw_decode`` drives the C API directly: every sequence's prompt is
prefilled first (not timed), then each step decodes ONE batch holding the
next token of every sequence and samples each with a native greedy sampler.
The context is configured like :class:`epistula.engines.llamacpp.engine.LlamaCppEngine`
(unified KV, same window and sequence count), so ``engine / raw`` isolates the
cost of the scheduler, the thread hop and asyncio.

CLI::

    python benchmarks/raw_llamacpp.py --model PATH [--engine] [--tokens 64]

(options ``--threads N``, ``--unified``, ``--ctx``, ``--repeats``) prints JSON: raw aggregate
tokens/s per batch size, single-stream tokens/s of
llama-cpp-python's high-level ``Llama`` for reference, and with ``--engine``
the engine's aggregate tokens/s and the engine/raw ratio at each size.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import llama_cpp.llama_cpp as ll

BATCH_SIZES = (1, 4, 8, 16)
PROMPT = "<|im_start|>user\nWrite a long story about a dragon and a knight.<|im_end|>\n<|im_start|>assistant\n"


def default_model_path() -> str:
    """The default model's GGUF, found through its installed package (any Python, any venv layout)."""
    from epistula.config import default_models
    from epistula.models.catalog import resolve_model_path

    return str(resolve_model_path(default_models()[0].path))


def _threads() -> int:
    """All cores (the most threads the engine's adaptive policy uses)."""
    from epistula.engines.llamacpp.threads import cores

    return cores()


def _quiet_logs() -> None:
    """Silence llama.cpp's stderr chatter (a no-op callback)."""
    global _NOOP_LOG
    _NOOP_LOG = ll.llama_log_callback(lambda level, text, data: None)
    ll.llama_log_set(_NOOP_LOG, ctypes.c_void_p(0))


_NOOP_LOG: Any = None


def _tokenize(vocab: Any, text: str) -> list[int]:
    data = text.encode()
    buf = (ll.llama_token * (len(data) + 8))()
    n = ll.llama_tokenize(vocab, data, len(data), buf, len(buf), False, True)
    return list(buf[:n])


def _fill(batch: Any, rows: Sequence[tuple[int, int, int, bool]]) -> None:
    for i, (token, pos, seq, logits) in enumerate(rows):
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = logits
    batch.n_tokens = len(rows)


def _decode_rate(ctx: Any, vocab: Any, batch: Any, size: int, tokens: int) -> float:
    """Prefill ``size`` prompts (untimed), then time ``tokens`` batched steps."""
    ll.llama_memory_clear(ll.llama_get_memory(ctx), True)
    base = _tokenize(vocab, PROMPT)
    rows: list[tuple[int, int, int, bool]] = []
    for seq in range(size):
        prompt = [*base, *_tokenize(vocab, f" {seq}")]  # distinct prompts, as real traffic
        rows += [(t, p, seq, p == len(prompt) - 1) for p, t in enumerate(prompt)]
    _fill(batch, rows)
    if ll.llama_decode(ctx, batch) != 0:
        raise RuntimeError("prefill failed")
    cparams = ll.llama_sampler_chain_default_params()
    chains = [ll.llama_sampler_chain_init(cparams) for _ in range(size)]
    for chain in chains:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
    logit_rows = [i for i, row in enumerate(rows) if row[3]]
    pos = [sum(1 for r in rows if r[2] == seq) for seq in range(size)]
    nxt = [ll.llama_sampler_sample(chains[s], ctx, logit_rows[s]) for s in range(size)]
    start = time.perf_counter()
    for _ in range(tokens):
        _fill(batch, [(nxt[s], pos[s], s, True) for s in range(size)])
        if ll.llama_decode(ctx, batch) != 0:
            raise RuntimeError("decode failed")
        nxt = [ll.llama_sampler_sample(chains[s], ctx, s) for s in range(size)]
        pos = [p + 1 for p in pos]
    elapsed = time.perf_counter() - start
    for chain in chains:
        ll.llama_sampler_free(chain)
    return size * tokens / elapsed


def measure_raw_decode(
    model_path: str,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    tokens: int = 64,
    *,
    n_ctx: int = 8192,
    n_seq_max: int = 16,
    n_threads: int | None = None,
    kv_unified: bool = False,
) -> dict[int, float]:
    """Aggregate tokens/s of pure batched ``llama_decode`` + native greedy sampling.

    ``n_ctx`` is the per-sequence window; ``kv_unified`` picks the KV layout
    (the engine's default for this model is per-sequence streams).
    """
    _quiet_logs()
    ll.llama_backend_init()
    mparams = ll.llama_model_default_params()
    model = ll.llama_model_load_from_file(model_path.encode(), mparams)
    if not model:
        raise RuntimeError(f"cannot load {model_path}")
    threads = n_threads or _threads()
    cparams = ll.llama_context_default_params()
    n_seqs = max(n_seq_max, *batch_sizes)
    cparams.n_ctx = n_ctx if kv_unified else n_ctx * n_seqs
    cparams.n_batch = cparams.n_ubatch = 512
    cparams.n_seq_max, cparams.kv_unified, cparams.no_perf = n_seqs, kv_unified, True
    cparams.n_threads = cparams.n_threads_batch = threads
    ctx = ll.llama_init_from_model(model, cparams)
    batch = ll.llama_batch_init(512, 0, 1)
    vocab = ll.llama_model_get_vocab(model)
    try:
        _decode_rate(ctx, vocab, batch, 1, 8)  # warm-up: first graphs and page faults
        return {size: _decode_rate(ctx, vocab, batch, size, tokens) for size in batch_sizes}
    finally:
        ll.llama_batch_free(batch)
        ll.llama_free(ctx)
        ll.llama_model_free(model)


def measure_high_level(model_path: str, tokens: int = 64, n_threads: int | None = None) -> float:
    """Single-stream tokens/s of llama-cpp-python's ``Llama`` (Python-side sampling)."""
    from llama_cpp import Llama

    llm = Llama(model_path=model_path, n_ctx=2048, n_threads=n_threads or _threads(), verbose=False)
    llm.create_completion(PROMPT, max_tokens=4, temperature=0)  # warm-up
    start = time.perf_counter()
    out = llm.create_completion(PROMPT, max_tokens=tokens, temperature=0)
    elapsed = time.perf_counter() - start
    n = int(out["usage"]["completion_tokens"])  # type: ignore[index]
    del llm
    return n / elapsed


async def _engine_rates(
    model_path: str, batch_sizes: Sequence[int], tokens: int, n_threads: int | None, kv_unified: bool
) -> dict[int, float]:
    from epistula.engines.base import GenerationRequest, SamplingParams
    from epistula.engines.llamacpp.engine import LlamaCppEngine

    engine = LlamaCppEngine(model_path, n_seq_max=max(16, *batch_sizes), n_threads=n_threads, kv_unified=kv_unified)
    await engine.start()

    async def run(prompt: list[int], max_tokens: int) -> int:
        request = GenerationRequest(tuple(prompt), SamplingParams(max_tokens=max_tokens, temperature=0))
        count = 0
        async for event in engine.generate(request):
            count += hasattr(event, "piece")
        return count

    try:
        base = engine.tokenize(PROMPT)
        rates: dict[int, float] = {}
        for size in batch_sizes:
            prompts = [base + engine.tokenize(f" {seq}") for seq in range(size)]
            await asyncio.gather(*(run(p, 1) for p in prompts))  # prefill once: cached next time
            start = time.perf_counter()
            counts = await asyncio.gather(*(run(p, tokens) for p in prompts))
            rates[size] = sum(counts) / (time.perf_counter() - start)
        return rates
    finally:
        await engine.close()


def measure_engine(
    model_path: str,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    tokens: int = 64,
    *,
    n_threads: int | None = None,
    kv_unified: bool = False,
) -> dict[int, float]:
    """Aggregate tokens/s through ``LlamaCppEngine.generate`` with concurrent streams.

    Prompts are prefilled by an untimed warm-up (the engine's prefix cache
    then holds them) so both sides time decoding.
    """
    return asyncio.run(_engine_rates(model_path, batch_sizes, tokens, n_threads, kv_unified))


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def compare(
    model_path: str,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    tokens: int = 64,
    repeats: int = 3,
    *,
    n_threads: int | None = None,
    kv_unified: bool = False,
) -> dict[str, dict[int, float]]:
    """Alternate raw and engine sweeps ``repeats`` times; medians and their ratio.

    Alternating matters on small shared machines, where throughput drifts by
    tens of percent between minutes: both sides see the same conditions.
    """
    raws: list[dict[int, float]] = []
    engines: list[dict[int, float]] = []
    for _ in range(repeats):
        raws.append(measure_raw_decode(model_path, batch_sizes, tokens, n_threads=n_threads, kv_unified=kv_unified))
        engines.append(measure_engine(model_path, batch_sizes, tokens, n_threads=n_threads, kv_unified=kv_unified))
    raw = {k: _median([r[k] for r in raws]) for k in batch_sizes}
    engine = {k: _median([e[k] for e in engines]) for k in batch_sizes}
    return {"raw": raw, "engine": engine, "ratio": {k: engine[k] / raw[k] for k in batch_sizes}}


def _rounded(values: dict[int, float], digits: int = 1) -> dict[str, float]:
    return {str(k): round(v, digits) for k, v in values.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default=None, help="GGUF path (default: the bundled SmolLM2)")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="alternating sweeps (median)")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--engine", action="store_true", help="also measure LlamaCppEngine")
    parser.add_argument("--no-high-level", action="store_true", help="skip the Llama reference")
    parser.add_argument("--threads", type=int, default=None, help="ggml threads (default: all cores but one)")
    parser.add_argument("--unified", action="store_true", help="unified KV cache (default: per sequence)")
    parser.add_argument("--ctx", type=int, default=8192, help="KV cells (per sequence unless --unified)")
    args = parser.parse_args(argv)
    args.model = args.model or default_model_path()
    sizes = tuple(int(s) for s in args.batch_sizes.split(","))
    threads = args.threads or _threads()
    layout = {"n_threads": threads, "kv_unified": args.unified}
    result: dict[str, Any] = {"model": args.model, "tokens": args.tokens, **layout}
    if args.engine:
        cmp = compare(args.model, sizes, args.tokens, args.repeats, **layout)
        result["raw_tok_s"] = _rounded(cmp["raw"])
        result["engine_tok_s"] = _rounded(cmp["engine"])
        result["engine_over_raw"] = _rounded(cmp["ratio"], 3)
    else:
        runs = [
            measure_raw_decode(args.model, sizes, args.tokens, n_ctx=args.ctx, **layout) for _ in range(args.repeats)
        ]
        result["raw_tok_s"] = _rounded({k: _median([r[k] for r in runs]) for k in sizes})
    if not args.no_high_level:
        result["high_level_single_tok_s"] = round(measure_high_level(args.model, args.tokens, threads), 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
