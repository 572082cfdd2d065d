"""The remote engine: epistula renders and tokenizes, upstream servers generate.

Tokens are counted and pieces decoded with the model's own vocabulary, loaded from the
same GGUF without its weights (``vocab_only``); generation streams from llama-server,
vLLM or SGLang over their token-level APIs (:mod:`.dialects`). At start every upstream's
tokenizer is compared with ours on a probe text: an upstream that tokenizes differently is
refused (counts and cache offsets would be wrong there), with a message saying so.

Failure handling: before the first token, a request whose upstream cannot be reached,
answers 5xx or breaks off moves to the next upstream (the failed one is marked down and
probed again by the health loop). After the first token there is no going back: the
engine raises :class:`~epistula.engines.base.EngineError`, which the stream reports as an
``event: error``. Waits are bounded by the read timeout, so a silent upstream never hangs
a client.

Prompt caching: the upstream's own count of reused prompt tokens (llama-server's
``prompt_progress.cache``/``timings.cache_n``, vLLM's ``cached_tokens``) decides the usage
split, so ``cache_read_input_tokens`` is what the upstream really skipped, read at the
longest breakpoint it covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from epistula.engines.base import (
    CachePoint,
    EngineError,
    EngineStats,
    Finished,
    FinishReason,
    GenerationRequest,
    ModelFacts,
    PromptProgress,
    PromptTooLong,
    Token,
    TokenEvent,
)
from epistula.engines.cache_usage import split_usage
from epistula.engines.llamacpp.native import NativeModel
from epistula.engines.remote.dialects import DIALECTS, Chunk, parse_upstream
from epistula.engines.remote.routing import PrefixRouter
from epistula.engines.remote.upstream import Upstream, UpstreamFailed

log = logging.getLogger(__name__)

PROBE = (
    "<|im_start|>system\nTokenizer check: Hello, wörld! Ünïcödé 你好 🙂 $1,234.56 "
    "def f(x):\n\treturn x**2  # code\n\n<|im_end|>\n<|im_start|>user\n  spaces   and\r\nCRLF<|im_end|>"
)
"""Text both tokenizers must cut identically (control markup, Unicode, code, whitespace)."""

DRAIN_S = 1.0
"""Longest wait, after the last token, for the end of the upstream's response."""


@functools.cache
def load_vocab(path: str) -> NativeModel:
    """The vocabulary and metadata of a GGUF, without its weights (read-only, so shared by
    every engine of the process that serves that file; loading it scans the vocabulary)."""
    return NativeModel(path, vocab_only=True)


class TokenizerMismatch(EngineError):
    """An upstream's tokenizer differs from the model's: its counts would be wrong."""


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    """Longest wait for the next bytes of a stream (prefill progress counts)."""
    health_interval: float = 5.0
    route_block_tokens: int = 64
    prompt_cache_min_tokens: int = 1024
    upstream_model: str = ""
    """The ``model`` field sent to OpenAI-dialect upstreams (their served model name)."""


class RemoteEngine:
    """An :class:`~epistula.engines.base.Engine` over upstream inference servers."""

    def __init__(
        self,
        model_path: str,
        upstreams: Sequence[str],
        *,
        name: str,
        context_window: int | None = None,
        options: RemoteOptions | None = None,
    ) -> None:
        if not upstreams:
            raise ValueError("the remote engine needs at least one --upstream URL")
        self._options = options or RemoteOptions()
        opts = self._options
        if logging.getLogger("httpx").level == logging.NOTSET:
            logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per upstream request
        self._path = model_path
        self._name = name
        self._window_arg = context_window
        self._window = context_window or 8192
        self._vocab: NativeModel | None = None
        self._facts: ModelFacts | None = None
        self.upstreams = []
        for spec in upstreams:
            dialect, url = parse_upstream(spec)
            self.upstreams.append(
                Upstream(
                    url,
                    DIALECTS[dialect],
                    model=opts.upstream_model or name,
                    connect_timeout=opts.connect_timeout,
                    read_timeout=opts.read_timeout,
                    retry_after=opts.health_interval,
                )
            )
        self.router = PrefixRouter(block_tokens=opts.route_block_tokens)
        self._refused: dict[int, str] = {}
        self._verified: set[int] = set()
        self._health_task: asyncio.Task[None] | None = None
        self._reused = 0
        self._prefilled = 0
        self._closed = False

    # -- model facts ------------------------------------------------------

    def _model(self) -> NativeModel:
        if self._vocab is None:
            self._vocab = load_vocab(self._path)
        return self._vocab

    @property
    def facts(self) -> ModelFacts:
        if self._facts is None:
            self._facts = self._model().facts(self._name, self._window)
        return self._facts

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        return self._model().tokenize(text, special)

    def detokenize(self, ids: list[int]) -> str:
        return self._model().detokenize(ids)

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        """Load the vocabulary, check every reachable upstream, start the health loop.

        Raises :class:`TokenizerMismatch` if a reachable upstream tokenizes differently:
        serving with it would bill and cache by the wrong token counts."""
        await asyncio.to_thread(self._model)
        await asyncio.gather(*(self._probe(i) for i in range(len(self.upstreams))))
        if self._refused:
            raise TokenizerMismatch("; ".join(self._refused.values()))
        windows = [w for w in await asyncio.gather(*(u.context_window() for u in self.upstreams)) if w]
        if self._window_arg is None and windows:
            self._window = min(windows)
            self._facts = None
        reachable = len(self._verified)
        log.info(
            "remote engine %s: %d of %d upstreams ready, window=%d",
            self._name,
            reachable,
            len(self.upstreams),
            self._window,
        )
        if self._health_task is None:
            self._health_task = asyncio.create_task(self._health_loop())

    async def _probe(self, index: int) -> None:
        """Health, then (once) tokenizer agreement, of one upstream."""
        upstream = self.upstreams[index]
        if not await upstream.check_health() or index in self._verified or index in self._refused:
            return
        try:
            theirs = await upstream.tokenize(PROBE)
        except UpstreamFailed as exc:
            upstream.mark_down(f"tokenizer check failed: {exc}")
            return
        ours = await asyncio.to_thread(self.tokenize, PROBE)
        if theirs != ours:
            first = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None)
            at = min(len(ours), len(theirs)) if first is None else first
            self._refused[index] = (
                f"upstream {upstream.url} tokenizes differently from {self._path} "
                f"(probe: {len(theirs)} tokens there, {len(ours)} here, first difference at token {at}); "
                "serve the same model there, or remove it from --upstream"
            )
            log.error("%s", self._refused[index])
            return
        self._verified.add(index)

    def _probe_due(self, index: int) -> bool:
        """Whether the health loop should probe this upstream now: not if it is up,
        checked, and ended a stream well within the last interval (a finished stream
        says as much as a probe, which costs an HTTP exchange every interval)."""
        upstream = self.upstreams[index]
        recent = time.monotonic() - upstream.last_served < self._options.health_interval
        return not (upstream.healthy and index in self._verified and recent)

    async def _health_loop(self) -> None:
        interval = self._options.health_interval
        while True:
            await asyncio.sleep(interval)
            for index, upstream in enumerate(self.upstreams):
                was_healthy = upstream.healthy
                if not self._probe_due(index):
                    continue
                with contextlib.suppress(Exception):
                    await self._probe(index)
                if was_healthy and not upstream.healthy:
                    self.router.forget(index)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(BaseException):
                await self._health_task
        for upstream in self.upstreams:
            await upstream.close()

    def stats(self) -> EngineStats:
        return EngineStats(
            queue_depth=0,
            active_sequences=sum(u.in_flight for u in self.upstreams),
            prompt_tokens_reused=self._reused,
            prompt_tokens_prefilled=self._prefilled,
            routed_requests=self.router.lookups,
            routed_prefix_hits=self.router.hits,
        )

    # -- generation -------------------------------------------------------

    def _candidates(self, request: GenerationRequest) -> list[int]:
        usable = [i for i in range(len(self.upstreams)) if i in self._verified]
        if not usable:
            raise EngineError("no upstream is available (all down or not yet checked)")
        pool = [self.upstreams[i] for i in usable]
        route = self.router.route(request.cache_namespace, request.prompt, pool)
        return [usable[i] for i in route.order]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenEvent]:
        if self._closed:
            raise EngineError("engine shut down")
        if not request.prompt:
            raise EngineError("empty prompt")
        if len(request.prompt) > self._window:
            raise PromptTooLong(len(request.prompt), self._window)
        errors: list[str] = []
        for index in self._candidates(request):
            upstream = self.upstreams[index]
            stream = _Stream(self, request, index)
            try:
                async for event in stream.events():
                    yield event
                return
            except UpstreamFailed as exc:
                if stream.committed or exc.client_error:
                    raise EngineError(str(exc)) from exc
                upstream.mark_down(str(exc))
                self.router.forget(index)
                errors.append(str(exc))
        raise EngineError("every upstream failed: " + "; ".join(errors))


class _Stream:
    """One attempt at a request on one upstream, in engine events."""

    def __init__(self, engine: RemoteEngine, request: GenerationRequest, index: int) -> None:
        self.engine = engine
        self.request = request
        self.index = index
        self.committed = False
        """Something the consumer cannot take back was sent (cache usage, a token)."""

    async def events(self) -> AsyncIterator[TokenEvent]:
        engine, request = self.engine, self.request
        upstream = engine.upstreams[self.index]
        sampling = request.sampling
        body = upstream.dialect.body(list(request.prompt), sampling, request.cache_namespace, upstream.model)
        eog = engine.facts.eog_token_ids
        points = tuple(p for p in request.cache_points if p.offset >= engine._options.prompt_cache_min_tokens)
        cached: int | None = None
        produced: list[int] = []
        reason: FinishReason | None = None
        piece = engine._model().piece
        upstream.in_flight += 1
        chunks = upstream.stream(body)
        try:
            async for chunk in chunks:
                if cached is None and chunk.cached is not None:
                    cached = chunk.cached
                if not self.committed and chunk.progress is not None and not request.cache_points:
                    yield PromptProgress(done=chunk.progress[0], total=chunk.progress[1])
                if not self.committed and (chunk.tokens or chunk.finish) and chunk.progress is None:
                    self.committed = True
                    engine.router.record(request.cache_namespace, request.prompt, self.index)
                    if request.cache_points:
                        yield split_usage(_read_at(cached or 0, points), points)
                new, reason = self._take(chunk, produced, eog)
                if sampling.max_tokens:  # zero: only prefilling, to write the cache points
                    for token in new:
                        yield Token(id=token, piece=piece(token))
                if reason is not None:
                    break
            if reason is not None:
                cached = await _drain(chunks, cached)
        finally:
            upstream.in_flight -= 1
            await chunks.aclose()  # type: ignore[attr-defined]
        if reason is None:
            raise UpstreamFailed(upstream.url, "stream ended without a finish")
        upstream.served += 1
        upstream.last_served = time.monotonic()
        upstream.mark_up()
        output = len(produced) if sampling.max_tokens else 0
        engine.router.record(request.cache_namespace, (*request.prompt, *produced), self.index)
        reused = min(cached or 0, len(request.prompt))
        engine._reused += reused
        engine._prefilled += len(request.prompt) - reused
        yield Finished(reason=reason, prompt_tokens=len(request.prompt), output_tokens=output, cached_tokens=reused)

    def _take(self, chunk: Chunk, produced: list[int], eog: frozenset[int]) -> tuple[list[int], FinishReason | None]:
        """The chunk's sampled tokens, appended to ``produced`` up to an end of generation
        or a limit, and the finish reason once the sequence is over."""
        if chunk.progress is not None:
            return [], None
        limit = max(self.request.sampling.max_tokens, 1)
        window = self.engine._window - len(self.request.prompt)
        new: list[int] = []
        for token in chunk.tokens:
            if token in eog:
                return new, "eos"
            produced.append(token)
            new.append(token)
            if len(produced) >= limit:
                return new, "max_tokens"
            if len(produced) >= window:
                return new, "context_window"
        return new, chunk.finish


async def _drain(chunks: AsyncIterator[Chunk], cached: int | None) -> int | None:
    """Read the rest of a finished stream (``cached`` from it if still unknown).

    The sequence ends where the upstream's own does (its ``n_predict`` is our limit, and it
    stops at the same end of generation), so what follows the last token is only its
    closing event (llama-server's stop chunk; vLLM's finish, usage and ``[DONE]``). Read to
    the end of the response, the connection goes back to the pool instead of being cut
    (a new connection per request, and an abort the upstream has to notice). An upstream
    that goes on generating (a token more), or does not end within :data:`DRAIN_S`, is
    cut after all."""
    with contextlib.suppress(TimeoutError, UpstreamFailed):
        async with asyncio.timeout(DRAIN_S):
            async for chunk in chunks:
                if cached is None and chunk.cached is not None:
                    cached = chunk.cached
                if chunk.tokens:
                    break
    return cached


def _read_at(cached: int, points: Sequence[CachePoint]) -> int:
    """Tokens read from cache: the longest breakpoint prefix the upstream had cached."""
    return max((p.offset for p in points if p.offset <= cached), default=0)
