"""Sequence slots of the llama.cpp scheduler and their prefix cache.

A slot is one KV sequence id. It remembers which tokens its cells hold and
keeps them after its job finishes, so a later prompt in the same cache
namespace that starts with those tokens skips recomputing them (reported as
``cached_tokens``). Only the scheduler's worker thread uses these objects,
except the ``Job`` fields documented as shared.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from dataclasses import dataclass, field
from typing import cast

from epistula.engines.base import CachePoint, PromptImage, SamplingParams, TokenEvent
from epistula.engines.llamacpp.native import NativeContext, SamplerChain
from epistula.engines.llamacpp.parking import Parked, ParkingLot
from epistula.engines.prefix_store import Snapshot, common_prefix

log = logging.getLogger(__name__)

Outcome = TokenEvent | BaseException
"""What the worker sends to a job's queue: an event, or an error to raise."""


@dataclass(eq=False)
class Job:
    """One generation request, shared between the asyncio side and the worker.

    Fields below ``queue`` are touched only by the worker, except ``cancelled``
    (set by the consumer; a plain bool store is atomic under the GIL) and
    ``done`` (set by the worker before it posts the final outcome).
    """

    prompt: tuple[int, ...]
    sampling: SamplingParams
    namespace: str
    priority: int
    chain: SamplerChain
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Outcome]
    order: int = 0
    cancelled: bool = False
    done: bool = False
    slot: Slot | None = None
    n_past: int = 0
    """Tokens of this sequence already in the KV cache (prompt, then output)."""
    next_token: int | None = None
    """Sampled but not yet decoded; fed to the next batch."""
    output_tokens: int = 0
    cached_tokens: int = 0
    chunks: int = 0
    """Prefill chunks decoded so far (progress is reported for multi-chunk prompts)."""
    chunk: int = 0
    """Prompt tokens this job put into the current batch."""
    batch_index: int = -1
    cache_hit: Snapshot | None = None
    """A prompt-cache snapshot to restore at admission (its prefix is the prompt's)."""
    cache_writes: tuple[CachePoint, ...] = ()
    """Breakpoints to store from a snapshot taken when the prefill reaches ``write_at``."""
    write_at: int = 0
    """Prefill stops at this many tokens to snapshot the sequence (0: nothing to write)."""
    images: tuple[PromptImage, ...] = ()
    """Image runs of ``prompt``: decoded as embeddings, never as tokens (:mod:`.vision`)."""


@dataclass(eq=False)
class Slot:
    """One KV sequence id and the tokens whose cells it currently holds."""

    seq_id: int
    tokens: list[int] = field(default_factory=list)
    namespace: str = ""
    job: Job | None = None
    last_used: int = 0


class SlotTable:
    """The ``n_seq_max`` slots, slot choice and prefix reuse (in the KV cache, and from
    caches parked in host memory: :mod:`.parking`)."""

    def __init__(self, n_slots: int, parking: ParkingLot | None = None) -> None:
        self.slots = [Slot(seq_id=i) for i in range(n_slots)]
        self.parking = parking if parking is not None else ParkingLot()

    def free(self) -> list[Slot]:
        return [s for s in self.slots if s.job is None]

    def cached_idle(self) -> list[Slot]:
        return [s for s in self.slots if s.job is None and s.tokens]

    def evict_lru_idle(self, ctx: NativeContext) -> bool:
        """Forget the least recently used idle cache; False when there is none."""
        idle = self.cached_idle()
        if not idle:
            return False
        victim = min(idle, key=lambda s: s.last_used)
        ctx.seq_rm(victim.seq_id)
        victim.tokens = []
        return True

    def place(self, job: Job, ctx: NativeContext) -> None:
        """Give ``job`` a free slot, seeded with the longest cached prefix."""
        free = self.free()
        target, source, reuse = self._choose(job, free, ctx.kv_unified)
        if target is source:
            ctx.seq_rm(target.seq_id, reuse, -1)
            del target.tokens[reuse:]
        else:
            ctx.seq_rm(target.seq_id)
            target.tokens = []
            if source is not None and reuse > 0:
                ctx.seq_cp(source.seq_id, target.seq_id, 0, reuse)
                target.tokens = list(job.prompt[:reuse])
            else:
                reuse = 0
        target.namespace = job.namespace
        target.job = job
        job.slot = target
        job.n_past = reuse
        job.cached_tokens = reuse
        if ctx.kv_unified:
            parked, n = self.parking.best(job.namespace, job.prompt)
            if parked is not None and restore(job, ctx, parked.tokens, parked.data, n):
                self.parking.take(parked)

    def move(self, old: NativeContext, new: NativeContext) -> list[Job]:
        """Move every sequence's cells from ``old`` (then freed) to ``new``; returns the
        running jobs whose cells did not fit (an idle cache that does not is forgotten)."""
        saved = [(slot, old.seq_snapshot(slot.seq_id)) for slot in self.slots if slot.tokens]
        new.set_threads(old.n_threads)
        old.free()
        log.info("KV cache grown to %d cells (%d sequences moved)", new.n_ctx, len(saved))
        lost: list[Job] = []
        for slot, data in saved:
            if data is None or not new.seq_restore(data, slot.seq_id):
                slot.tokens = []
                lost += [slot.job] if slot.job is not None else []
        return lost

    def settle(self, ctx: NativeContext) -> None:
        """With no job running, park every idle cache but the most recently used one and
        move that one's cells to the front of a unified cache (see :mod:`.parking`)."""
        cached = sorted(self.cached_idle(), key=lambda s: s.last_used, reverse=True)
        if not ctx.kv_unified or len(cached) < 2 or any(s.job for s in self.slots):
            return
        kept, *older = cached
        for slot in older:
            data = ctx.seq_snapshot(slot.seq_id)
            ctx.seq_rm(slot.seq_id)
            if data is not None:
                self.parking.park(Parked(slot.namespace, tuple(slot.tokens), data, slot.last_used))
            slot.tokens = []
        data = ctx.seq_snapshot(kept.seq_id)
        ctx.clear()  # every sequence is empty now: the cache fills from cell 0 again
        if data is None or not ctx.seq_restore(data, kept.seq_id):
            kept.tokens = []

    def _choose(self, job: Job, free: list[Slot], shared_cells: bool) -> tuple[Slot, Slot | None, int]:
        """Return (target slot, prefix source, reusable length).

        With a unified cache, cells can be shared between sequences, so a
        prefix is copied (cheaply) from any slot, even a running one, into an
        empty slot, leaving the source's cache whole. With per-sequence
        streams llama.cpp only copies whole streams, so a prefix is reused in
        place, from an idle slot. Either way the source is extended in place
        when that loses at most its last token, or when no empty slot exists
        (truncating the source's tail beats evicting another slot's cache).
        """
        source, reuse = self._best_prefix(job, idle_only=not shared_cells)
        reuse = min(reuse, len(job.prompt) - 1)  # the last prompt token must be decoded
        empty = [s for s in free if not s.tokens]
        lru = empty[0] if empty else min(free, key=lambda s: s.last_used)
        if source is None or reuse <= 0:
            return lru, None, 0
        if source.job is None and (reuse >= len(source.tokens) - 1 or not empty):
            return source, source, reuse
        if shared_cells:
            return lru, source, reuse
        if reuse * 2 >= len(source.tokens):
            return source, source, reuse  # keeps at least half of that cache
        return lru, None, 0

    def _best_prefix(self, job: Job, idle_only: bool) -> tuple[Slot | None, int]:
        best: Slot | None = None
        best_len = 0
        for slot in self.slots:
            if not slot.tokens or slot.namespace != job.namespace or (idle_only and slot.job):
                continue
            n = common_prefix(slot.tokens, job.prompt)
            if n > best_len or (n == best_len and best is not None and slot.job is None):
                best, best_len = slot, n
        return best, best_len


def restore(job: Job, ctx: NativeContext, tokens: tuple[int, ...], data: object, shared: int) -> bool:
    """Put saved cells (of ``tokens``, sharing ``shared`` tokens with the prompt) into the
    job's sequence when that beats what it holds; False when it does not or finds no room
    (the sequence is then empty and the prompt is prefilled from the start)."""
    slot = job.slot
    assert slot is not None
    n = min(shared, len(job.prompt) - 1)  # the last prompt token must be decoded
    if n <= job.n_past:
        return False
    restored = ctx.seq_restore(cast("ctypes.Array[ctypes.c_uint8]", data), slot.seq_id)
    if not restored or ctx.seq_pos_max(slot.seq_id) < n - 1:
        ctx.seq_rm(slot.seq_id)
        log.warning("no KV room to restore %d cached tokens; prefilling them", n)
        slot.tokens = []
        job.n_past = job.cached_tokens = 0
        return False
    ctx.seq_rm(slot.seq_id, n, -1)  # the saved cells may hold more than this prompt shares
    slot.tokens = list(tokens[:n])
    job.n_past = job.cached_tokens = n
    return True
