"""Continuous-batching scheduler that owns the llama context on one thread.

Each step the worker admits queued jobs into free sequence slots, builds ONE ``llama_batch``
holding the next token of every decoding sequence plus a bounded chunk of pending prompt
tokens, calls ``llama_decode`` once, and samples each sequence that produced logits.
With nobody decoding a step takes up to ``n_batch`` prompt tokens, otherwise only
``prefill_chunk``, so running streams keep flowing while a long prompt is read.

Around that loop:

* **Prefix reuse.** Slots keep their cells after a job as prefix caches
  (:mod:`.slots`); out of work, the worker parks all idle caches but the newest in
  host memory (:mod:`.parking`), so a lone stream does not attend over them.
* **Prompt caching** (``cache_control``). A job may bring a snapshot to restore and
  breakpoints to write: prefill pauses at the last breakpoint, the sequence is saved
  into the :class:`~epistula.engines.prefix_store.PromptCache`, and prefill goes on.
  Usage was reported at submission; a restore that finds no room is prefilled instead.
* **KV on demand** (:mod:`.kv_layout`). When ``llama_decode`` finds no cells (status
  1) the context is recreated with twice the cells, every sequence moved over
  (``_grow``), up to the budget; then idle caches go, then the newest job fails.
* **Threads and delivery.** A :class:`~.threads.ThreadPolicy` warms up and picks each step's
  ggml threads; events cross to asyncio through :mod:`.delivery` (a wake-up per loop per step at most).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from epistula.engines.base import EngineError, EngineOverloaded, Finished, FinishReason, PromptProgress, Token
from epistula.engines.llamacpp.cpuload import IdleMeter
from epistula.engines.llamacpp.delivery import Mailboxes
from epistula.engines.llamacpp.kv_layout import KvLayout
from epistula.engines.llamacpp.native import NativeBatch, NativeContext, NativeModel
from epistula.engines.llamacpp.parking import ParkingLot
from epistula.engines.llamacpp.slots import Job, Outcome, SlotTable, restore
from epistula.engines.llamacpp.threads import ThreadPolicy
from epistula.engines.llamacpp.vision import ImageDecodeFailed, Projector, image_at, text_end
from epistula.engines.prefix_store import PromptCache, Snapshot, common_prefix

log = logging.getLogger(__name__)


class Scheduler:
    """The worker thread: admission, batching, decoding, sampling, delivery."""

    def __init__(
        self,
        model: NativeModel,
        make_context: Callable[[int], NativeContext],
        *,
        layout: KvLayout,
        threads: ThreadPolicy,
        n_batch: int,
        max_queue: int,
        prefill_chunk: int,
        cache: PromptCache | None = None,
        parking: ParkingLot | None = None,
        vision: Projector | None = None,
    ) -> None:
        self._model = model
        self._vision = vision
        self._cache = cache
        self._prefill_chunk = max(1, prefill_chunk)
        self._make_context = make_context
        self._layout = layout
        self._threads = threads
        self._idle = IdleMeter()
        self._cells = layout.initial_cells
        n_seq_max = self._n_seq_max = layout.n_seq_max
        self._n_batch = n_batch
        self._max_queue = max_queue
        self._cond = threading.Condition()
        self._pending: list[tuple[int, int, Job]] = []
        self._n_active = 0
        self._stopping = False
        self._orders = itertools.count()
        self._ticks = itertools.count(1)
        self._slots = SlotTable(n_seq_max, parking)
        self._active: list[Job] = []
        self._outbox: list[tuple[Job, Outcome]] = []
        self._mailboxes = Mailboxes()
        self._ctx: NativeContext | None = None
        self._batch: NativeBatch | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="llamacpp-worker", daemon=True)
        self.context_window = layout.window

    # -- lifecycle (any thread) -------------------------------------------

    def start(self) -> None:
        """Start the worker and block until its context exists (call off-loop)."""
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise EngineError(f"llama.cpp context failed: {self._startup_error}")

    def stop(self) -> None:
        """Ask the worker to fail everything and exit, then wait for it."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    # -- submission (asyncio thread) --------------------------------------

    def submit(self, job: Job) -> None:
        """Queue a job, or raise :class:`EngineOverloaded` when the queue is full.

        "Waiting" means beyond the free slots: active + pending may reach
        ``n_seq_max + max_queue``.
        """
        with self._cond:
            if self._stopping:
                raise EngineError("engine shut down")
            if self._n_active + len(self._pending) >= self._n_seq_max + self._max_queue:
                raise EngineOverloaded(f"admission queue full ({self._max_queue} waiting)")
            job.order = next(self._orders)
            heapq.heappush(self._pending, (job.priority, job.order, job))
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """Withdraw a job whose consumer went away; the worker frees it next step."""
        with self._cond:
            for i, entry in enumerate(self._pending):
                if entry[2] is job:
                    self._pending.pop(i)
                    heapq.heapify(self._pending)
                    job.done = True
                    job.chain.free()
                    return
            job.cancelled = True

    def stats(self) -> dict[str, int]:
        """Counts for health endpoints and tests (approximate while a step runs)."""
        with self._cond:
            return {
                "active": self._n_active,
                "waiting": len(self._pending),
                "slots": self._n_seq_max,
                "cached_slots": len(self._slots.cached_idle()),
                "parked_caches": len(self._slots.parking),
                "kv_cells": self._cells,
            }

    # -- worker thread ----------------------------------------------------

    def _run(self) -> None:
        try:
            self._ctx = self._make_context(self._cells)
            self._batch = NativeBatch(max(self._n_batch, self._n_seq_max))
            self._threads.warm_up(self._ctx, self._batch, max(0, self._model.bos_token()))
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while self._wait_for_work():
                try:
                    self._step()
                except Exception as exc:  # keep serving other requests
                    log.exception("llama.cpp step failed")
                    for job in list(self._active):
                        self._fail(job, EngineError(f"generation failed: {exc}"), drop_kv=True)
                self._flush()
                if not self._active:
                    self._settle()
        finally:
            self._shutdown()

    def _wait_for_work(self) -> bool:
        """Block while idle (a quiet machine meanwhile frees every core); False once stopping."""
        with self._cond:
            idle = not self._stopping and not self._active and not self._pending
        if idle:
            self._idle.idle()
        with self._cond:
            while not self._stopping and not self._active and not self._pending:
                self._cond.wait()
        if idle and not self._stopping and self._idle.quiet():
            self._threads.quiet()
        return not self._stopping

    def _settle(self) -> None:
        """Out of work: tidy the idle prefix caches (:meth:`SlotTable.settle`)."""
        with self._cond:
            if self._pending or self._stopping:
                return
        assert self._ctx is not None
        self._slots.settle(self._ctx)

    def _step(self) -> None:
        self._drop_cancelled()
        self._admit()
        self._read_images()
        if not self._active:
            return
        batch = self._batch
        assert batch is not None
        while self._active:  # the context may be replaced (grown) between tries: never hold it
            in_batch = self._fill_batch(batch)
            if batch.n_tokens == 0:  # every stream waits for the vision encoder, whose thread wakes us
                with self._cond:
                    self._cond.wait(0.05)
                return
            assert self._ctx is not None
            status = self._threads.decode(self._ctx, batch)
            if status == 0:
                self._after_decode(in_batch)
                return
            if status == 1 and (self._grow() or self._relieve_kv_pressure()):
                self._drop_cancelled()
                continue
            for job in list(in_batch):
                self._fail(job, EngineError(f"llama_decode failed with status {status}"), True)

    def _grow(self) -> bool:
        """Recreate the context with more cells (within the budget), moving every
        sequence's cells over; False at the budget. A sequence whose cells cannot be
        moved loses them: an idle cache is forgotten, a running job fails."""
        cells = self._layout.grown(self._cells)
        old = self._ctx
        if cells <= self._cells or old is None:
            return False
        self._drop_cancelled()  # their cells need not move
        self._ctx = self._make_context(cells)
        self._cells = cells
        for job in self._slots.move(old, self._ctx):
            self._fail(job, EngineError("KV cache could not be grown"), drop_kv=True)
        return True

    def _drop_cancelled(self) -> None:
        for job in [j for j in self._active if j.cancelled]:
            self._release(job, drop_kv=True)
            job.done = True

    # -- admission --------------------------------------------------------

    def _admit(self) -> None:
        while True:
            with self._cond:
                if not self._slots.free() or not self._pending:
                    return
                job = heapq.heappop(self._pending)[2]
                self._n_active += 1
            if job.cancelled:
                self._finish_quietly(job)
                continue
            prewarm_only = job.sampling.max_tokens <= 0
            if (prewarm_only and not job.write_at) or len(job.prompt) >= self.context_window:
                reason: FinishReason = "max_tokens" if prewarm_only else "context_window"
                self._active.append(job)
                self._finish(job, reason)
                continue
            assert self._ctx is not None
            self._slots.place(job, self._ctx)
            self._active.append(job)
            self._apply_cache(job)

    # -- prompt cache -----------------------------------------------------

    def _apply_cache(self, job: Job) -> None:
        """Restore the job's cache hit (when it beats the slot's own prefix), and
        write its breakpoints at once if the slot already holds them."""
        hit, job.cache_hit = job.cache_hit, None
        if hit is not None and hit.data is not None:
            assert self._ctx is not None
            restore(job, self._ctx, hit.tokens, hit.data, common_prefix(hit.tokens, job.prompt))
        if job.write_at and job.n_past >= job.write_at:
            self._write_cache(job)
            if job.sampling.max_tokens <= 0:
                self._finish(job, "max_tokens")

    def _write_cache(self, job: Job) -> None:
        """Snapshot the job's sequence (its cells hold exactly ``slot.tokens``)."""
        ctx, slot = self._ctx, job.slot
        assert ctx is not None and slot is not None
        writes, job.cache_writes, job.write_at = job.cache_writes, (), 0
        if self._cache is None:
            return
        data = ctx.seq_snapshot(slot.seq_id)
        if data is None:
            log.warning("prompt cache: snapshot of sequence %d failed", slot.seq_id)
            return
        snapshot = Snapshot(tokens=tuple(slot.tokens), data=data, nbytes=len(data))
        self._cache.commit(job.namespace, snapshot, writes)

    # -- batching ---------------------------------------------------------

    def _fill_batch(self, batch: NativeBatch) -> list[Job]:
        """One token per decoding job, then prompt chunks within ``n_batch``."""
        batch.clear()
        in_batch: list[Job] = []
        for job in self._active:
            job.batch_index = -1
        # Rows in seq-id order: with per-sequence KV streams llama.cpp decodes
        # a shuffled batch ~1.5x slower (measured: 126 vs 191 tokens/s at 16).
        for job in sorted(self._decoding(), key=_seq_id):
            assert job.slot is not None and job.next_token is not None
            job.batch_index = batch.add(job.next_token, job.n_past, job.slot.seq_id, True)
            in_batch.append(job)
        budget = self._n_batch - batch.n_tokens
        if batch.n_tokens:  # streams are running: keep their steps short
            budget = min(budget, self._prefill_chunk)
        for job in self._active:
            if budget <= 0:
                break
            if job.next_token is None and job.n_past < len(job.prompt):
                assert job.slot is not None
                end = job.write_at if job.write_at > job.n_past else len(job.prompt)
                end = text_end(job.images, job.n_past, end) if job.images else end
                n = min(end - job.n_past, budget)
                if n <= 0:
                    continue  # at an image run: the next step reads it
                batch.add_run(job.prompt[job.n_past : job.n_past + n], job.n_past, job.slot.seq_id)
                if job.n_past + n == len(job.prompt):
                    job.batch_index = batch.n_tokens - 1
                    batch.set_logits(job.batch_index)
                job.chunk = n
                in_batch.append(job)
                budget -= n
        return in_batch

    def _read_images(self) -> None:
        """Decode the image runs that prefills have reached, once the projector's encoder thread
        has encoded them (a run not encoded yet waits, off the step), in prefill-sized slices
        while other streams decode. With no KV room the cache grows (or idle caches go) as
        for text, then the image is read again."""
        for job in [j for j in self._active if j.images and j.next_token is None]:
            while not job.done and (image := image_at(job.images, job.n_past)) is not None:
                ctx, slot, end = self._ctx, job.slot, image.start + image.length
                assert ctx is not None and slot is not None and self._vision is not None
                limit = self._prefill_chunk if self._decoding() else self._n_batch  # streams wait less
                try:
                    pos = self._vision.decode(ctx, job.images, image, job.n_past, slot.seq_id, limit, self._wake)
                    if pos is None:
                        break  # the encoder thread reads it; other streams go on meanwhile
                    if not job.n_past < pos <= end:
                        raise EngineError(f"the image decode ended at {pos}, outside its run ({job.n_past}..{end})")
                except ImageDecodeFailed as exc:
                    ctx.seq_rm(slot.seq_id, job.n_past, -1)
                    if not (self._grow() or self._relieve_kv_pressure()):
                        self._fail(job, exc, drop_kv=True)
                    continue
                except EngineError as exc:
                    self._fail(job, exc, drop_kv=True)
                    break
                if self._advance_prompt(job, pos) or (pos < end and self._decoding()):
                    break  # the rest of the image in the next steps, between the streams' tokens

    def _wake(self) -> None:
        """An image encoding is done (the encoder thread)."""
        with self._cond:
            self._cond.notify_all()

    def _advance_prompt(self, job: Job, end: int) -> bool:
        """The prompt is in the sequence up to ``end`` (text or image); write the cache when
        that is its breakpoint. True when the job ended there (pre-warming wants no tokens)."""
        assert job.slot is not None
        job.slot.tokens.extend(job.prompt[job.n_past : end])
        job.n_past = end
        if job.write_at and job.n_past == job.write_at:
            self._write_cache(job)
            if job.sampling.max_tokens <= 0:
                self._finish(job, "max_tokens")
                return True
        return False

    def _decoding(self) -> list[Job]:
        return [job for job in self._active if job.next_token is not None]

    def _after_decode(self, in_batch: list[Job]) -> None:
        ctx = self._ctx
        assert ctx is not None
        for job in in_batch:
            slot = job.slot
            assert slot is not None
            if job.next_token is not None:
                slot.tokens.append(job.next_token)
                job.n_past += 1
                job.next_token = None
            else:
                end = job.n_past + job.chunk
                job.chunks += 1
                if job.chunks > 1 or job.batch_index < 0:
                    self._emit(job, PromptProgress(done=end, total=len(job.prompt)))
                if self._advance_prompt(job, end):
                    continue
            if job.batch_index >= 0:
                self._accept(job, ctx.sample(job.chain, job.batch_index))

    def _accept(self, job: Job, token: int) -> None:
        """Route one sampled token: end on EOG, else emit and check the limits."""
        if token in self._model.eog_ids:
            self._finish(job, "eos")
            return
        job.output_tokens += 1
        self._emit(job, Token(id=token, piece=self._model.piece(token)))
        if job.output_tokens >= job.sampling.max_tokens:
            self._finish(job, "max_tokens")
        elif len(job.prompt) + job.output_tokens >= self.context_window:
            self._finish(job, "context_window")
        else:
            job.next_token = token

    # -- KV pressure ------------------------------------------------------

    def _relieve_kv_pressure(self) -> bool:
        """Free KV cells after ``llama_decode`` returned 1 (no slot).

        First forget idle prefix caches (least recently used first); only when
        none is left, fail the newest running job. Returns False when nothing
        could be freed, so the caller fails the batch instead of looping.
        """
        ctx = self._ctx
        assert ctx is not None
        if self._slots.evict_lru_idle(ctx):
            return True
        if len(self._active) <= 1:
            return False
        newest = max(self._active, key=lambda j: j.order)
        self._fail(newest, EngineError("KV cache is full: request preempted, retry later"), True)
        return True

    # -- completion -------------------------------------------------------

    def _emit(self, job: Job, outcome: Outcome) -> None:
        self._outbox.append((job, outcome))

    def _finish(self, job: Job, reason: FinishReason) -> None:
        self._release(job, drop_kv=False)
        job.done = True
        self._emit(
            job,
            Finished(
                reason=reason,
                prompt_tokens=len(job.prompt),
                output_tokens=job.output_tokens,
                cached_tokens=job.cached_tokens,
            ),
        )

    def _fail(self, job: Job, error: BaseException, drop_kv: bool) -> None:
        self._release(job, drop_kv=drop_kv)
        job.done = True
        self._emit(job, error)

    def _finish_quietly(self, job: Job) -> None:
        with self._cond:
            self._n_active -= 1
        job.done = True
        job.chain.free()

    def _release(self, job: Job, drop_kv: bool) -> None:
        """Return the job's slot (keeping its KV as a prefix cache unless dropped)."""
        if job in self._active:
            self._active.remove(job)
        slot = job.slot
        if slot is not None:
            slot.job = None
            slot.last_used = next(self._ticks)
            if drop_kv and self._ctx is not None:
                self._ctx.seq_rm(slot.seq_id)
                slot.tokens = []
            job.slot = None
        job.chain.free()
        with self._cond:
            self._n_active -= 1

    def _flush(self) -> None:
        """Hand this step's outcomes to their loops (tokens may wait for a decode-only step: :mod:`.delivery`)."""
        quick = not self._pending and all(job.next_token is not None for job in self._active)
        outbox, self._outbox = self._outbox, []
        self._mailboxes.post(outbox, quick)

    def _shutdown(self) -> None:
        """Fail every job still known, then free the native objects."""
        with self._cond:
            pending = [entry[2] for entry in self._pending]
            self._pending.clear()
            self._n_active += len(pending)
        for job in list(self._active) + pending:
            self._fail(job, EngineError("engine shut down"), drop_kv=False)
        self._flush()
        if self._batch is not None:
            self._batch.free()
        if self._ctx is not None:
            self._ctx.free()
        self._batch = None
        self._ctx = None


def _seq_id(job: Job) -> int:
    return job.slot.seq_id if job.slot is not None else -1
