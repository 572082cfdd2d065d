"""llama.cpp engine: continuous batching over llama-cpp-python's C API.

The asyncio side (this module) validates requests, builds each request's
native sampler chain (so a bad grammar fails before admission) and streams
events from a per-request :class:`asyncio.Queue`. Everything that touches the
llama context runs on the scheduler's single worker thread
(:mod:`epistula.engines.llamacpp.scheduler`), so the event loop never blocks
on inference.

Prompt caching keeps *KV snapshots* (``llama_state_seq_get_data``: one
sequence's cells copied to host memory) in a
:class:`~epistula.engines.prefix_store.PromptCache` rather than retaining sequences
inside the llama context. Measured with SmolLM2-135M on the 2-core machine: a
4,000-token prefix is 92 MB of KV, snapshotted in ~90 ms and restored in
~25 ms, where prefilling it takes 20-60 s. Retained sequences would avoid the
copy but cannot be budgeted: with per-sequence KV streams (the default here)
each holds a whole stream, and with a unified cache they compete for the cells
running requests need (:mod:`~epistula.engines.llamacpp.kv_layout`). Snapshots
cost exactly their bytes, live outside the context, and survive the slot
being reused by other requests. A slot's own leftover prefix (automatic reuse)
is still used first when it is at least as long.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from epistula.engines.base import (
    EngineError,
    EngineStats,
    Finished,
    GenerationRequest,
    ModelFacts,
    PromptTooLong,
    TokenEvent,
)
from epistula.engines.llamacpp.kv_layout import plan_layout
from epistula.engines.llamacpp.native import NativeContext, NativeModel
from epistula.engines.llamacpp.parking import PARKED_BYTES, ParkingLot
from epistula.engines.llamacpp.scheduler import Scheduler
from epistula.engines.llamacpp.slots import Job, Outcome
from epistula.engines.llamacpp.threads import ThreadPolicy
from epistula.engines.llamacpp.vision import Projector, check_runs
from epistula.engines.prefix_store import PromptCache

log = logging.getLogger(__name__)

DEFAULT_MAX_CONTEXT = 8192
"""Cap on the default window: the trained context of big models would make
the KV cache needlessly large; pass ``n_ctx`` to go beyond."""


class LlamaCppEngine:
    """An :class:`~epistula.engines.base.Engine` backed by one llama.cpp context.

    ``n_ctx`` is the context window of ONE request (default: the model's
    trained context, capped at 8192). ``kv_cache_tokens`` is the KV budget of
    the whole engine in cells (tokens), allocated on demand; ``kv_unified``
    picks the layout: ``True`` shares one cache among the ``n_seq_max``
    sequences (memory follows the tokens in use, batch-dependent numerics);
    ``False`` gives each sequence its own cells (results identical to solo
    runs); ``None`` chooses streams when every sequence can have a full
    window within the budget (:mod:`~epistula.engines.llamacpp.kv_layout`).
    ``n_threads`` fixes ggml's thread count (None: :class:`ThreadPolicy`
    picks between all cores and one fewer, step by step, from measured
    speed). ``n_batch`` bounds the tokens per
    ``llama_decode`` call, so it is also the prefill chunk size when nothing
    else runs; while other sequences decode, a step takes at most
    ``prefill_chunk`` prompt tokens so their streams keep flowing. ``max_queue``
    is how many requests may wait for a free sequence slot before
    :class:`~epistula.engines.base.EngineOverloaded` is raised.
    ``parked_cache_bytes`` bounds the host memory for idle prefix caches moved
    out of a unified cache (:mod:`~epistula.engines.llamacpp.parking`).
    """

    def __init__(
        self,
        model_path: str,
        *,
        n_ctx: int | None = None,
        n_seq_max: int = 16,
        n_batch: int = 512,
        n_threads: int | None = None,
        max_queue: int = 64,
        name: str | None = None,
        kv_unified: bool | None = None,
        prefill_chunk: int = 64,
        prompt_cache_bytes: int = 1 << 30,
        prompt_cache_min_tokens: int = 1024,
        parked_cache_bytes: int = PARKED_BYTES,
        kv_cache_tokens: int | None = None,
        mmproj: str | None = None,
    ) -> None:
        if n_seq_max < 1 or n_batch < 1 or max_queue < 0:
            raise ValueError("n_seq_max and n_batch must be >= 1, max_queue >= 0")
        self._path = model_path
        self._n_ctx_arg = n_ctx
        self._n_seq_max = n_seq_max
        self._n_batch = max(n_batch, n_seq_max)  # every decoding sequence fits one batch
        self._n_threads = n_threads
        self._max_queue = max_queue
        self._name = name or Path(model_path).stem
        self._kv_unified_arg = kv_unified
        self._kv_cache_tokens = kv_cache_tokens
        self._prefill_chunk = prefill_chunk
        self.kv_unified: bool | None = None
        """The layout in use (known after :meth:`start`)."""
        self._model_lock = threading.Lock()
        self._model: NativeModel | None = None
        self._facts: ModelFacts | None = None
        self._scheduler: Scheduler | None = None
        self._start_lock: asyncio.Lock | None = None
        self._closed = False
        self.prompt_cache = PromptCache(budget_bytes=prompt_cache_bytes, min_tokens=prompt_cache_min_tokens)
        """``cache_control`` prefixes of every namespace, as KV snapshots."""
        self._parked_cache_bytes = parked_cache_bytes
        self._reused = 0
        self._prefilled = 0
        self._mmproj = mmproj
        self._projector: Projector | None = None

    # -- model and facts (usable before start) -----------------------------

    def _loaded(self) -> NativeModel:
        """Load the model on first use (thread-safe); weights are mmapped."""
        if self._closed:
            raise EngineError("engine shut down")
        with self._model_lock:
            if self._model is None:
                self._model = NativeModel(self._path)
            return self._model

    def _n_ctx(self, model: NativeModel) -> int:
        if self._n_ctx_arg is not None:
            return self._n_ctx_arg
        trained = model.n_ctx_train or DEFAULT_MAX_CONTEXT
        return min(trained, DEFAULT_MAX_CONTEXT)

    @property
    def facts(self) -> ModelFacts:
        if self._facts is None:
            model = self._loaded()
            window = self._scheduler.context_window if self._scheduler else self._n_ctx(model)
            self._facts = model.facts(self._name, window)
        return self._facts

    @property
    def vision(self) -> Projector | None:
        """The vision projector (``mmproj``), loaded on first use; None for a text-only model."""
        if self._mmproj is None:
            return None
        model = self._loaded()
        with self._model_lock:
            if self._projector is None:
                self._projector = Projector(self._mmproj, model, n_threads=self._n_threads or os.cpu_count() or 1)
            return self._projector

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        return self._loaded().tokenize(text, special)

    def detokenize(self, ids: list[int]) -> str:
        return self._loaded().detokenize(ids)

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Load the model and start the worker (both off the event loop)."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()  # created on first use: bound to the caller's loop
        async with self._start_lock:
            if self._scheduler is None:
                await self._start()

    async def _start(self) -> None:
        model = await asyncio.to_thread(self._loaded)
        vision = await asyncio.to_thread(lambda: self.vision)
        self.prompt_cache.bytes_per_token = model.kv_bytes_per_token()
        layout = plan_layout(
            window=self._n_ctx(model),
            n_seq_max=self._n_seq_max,
            budget_tokens=self._kv_cache_tokens,
            unified=self._kv_unified_arg,
            bytes_per_token=model.kv_bytes_per_token(),
        )
        self.kv_unified = layout.unified
        threads = ThreadPolicy.fixed(self._n_threads) if self._n_threads else ThreadPolicy.adaptive()

        def make_context(cells: int) -> NativeContext:
            return NativeContext(
                model,
                n_ctx=cells,
                n_seq_max=self._n_seq_max,
                n_batch=self._n_batch,
                n_threads=threads.max_threads,
                kv_unified=layout.unified,
            )

        scheduler = Scheduler(
            model,
            make_context,
            layout=layout,
            threads=threads,
            n_batch=self._n_batch,
            max_queue=self._max_queue,
            prefill_chunk=self._prefill_chunk,
            cache=self.prompt_cache,
            parking=ParkingLot(self._parked_cache_bytes),
            vision=vision,
        )
        await asyncio.to_thread(scheduler.start)
        self._scheduler = scheduler
        self._facts = None  # recompute with the context's real window
        log.info(
            "llama.cpp engine %s ready: window=%d seqs=%d unified_kv=%s kv_cells=%d..%d batch=%d threads=%s",
            self._name,
            scheduler.context_window,
            self._n_seq_max,
            layout.unified,
            layout.initial_cells,
            layout.max_cells,
            self._n_batch,
            threads,
        )

    async def close(self) -> None:
        """Fail pending and running requests, stop the worker, free native memory."""
        if self._closed:
            return
        self._closed = True
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.stop)
            self._scheduler = None
        with self._model_lock:
            if self._projector is not None:
                self._projector.free()
                self._projector = None
            if self._model is not None:
                self._model.free()
                self._model = None

    def stats(self) -> EngineStats:
        """Queue and sequence counts from the scheduler, prompt-token counters from ``Finished``."""
        counts = self._scheduler.stats() if self._scheduler is not None else {}
        return EngineStats(
            queue_depth=counts.get("waiting", 0),
            active_sequences=counts.get("active", 0),
            prompt_tokens_reused=self._reused,
            prompt_tokens_prefilled=self._prefilled,
        )

    # -- generation -----------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenEvent]:
        """Stream one sequence: tokens, prompt progress, then one ``Finished``."""
        if self._closed:
            raise EngineError("engine shut down")
        if self._scheduler is None:
            await self.start()
        scheduler = self._scheduler
        assert scheduler is not None
        window = scheduler.context_window
        if len(request.prompt) > window:
            raise PromptTooLong(len(request.prompt), window)
        if not request.prompt:
            raise EngineError("empty prompt")
        check_runs(request.images, len(request.prompt), self.vision)
        model = self._loaded()
        queue: asyncio.Queue[Outcome] = asyncio.Queue()
        job = Job(
            prompt=tuple(request.prompt),
            sampling=request.sampling,
            namespace=request.cache_namespace,
            priority=request.priority,
            chain=model.sampler_chain(request.sampling),
            loop=asyncio.get_running_loop(),
            queue=queue,
            images=request.images,
        )
        plan = None
        if request.cache_points:
            plan = self.prompt_cache.plan(request.cache_namespace, job.prompt, request.cache_points)
            job.cache_hit, job.cache_writes, job.write_at = plan.hit, plan.writes, plan.write_at
        try:
            scheduler.submit(job)
        except BaseException:
            job.chain.free()
            raise
        try:
            if plan is not None:
                yield plan.usage
            while True:
                outcome = await queue.get()
                if isinstance(outcome, BaseException):
                    raise outcome
                if isinstance(outcome, Finished):
                    self._reused += outcome.cached_tokens
                    self._prefilled += outcome.prompt_tokens - outcome.cached_tokens
                yield outcome
                if isinstance(outcome, Finished):
                    return
        finally:
            if not job.done:
                scheduler.cancel(job)
