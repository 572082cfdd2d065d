"""One message generation: prompt ids -> engine -> stream events.

``MessageRun.open()`` admits the request to the engine and waits briefly for the
first engine event, so that early failures (overload, engine errors) surface as
plain HTTP errors; ``events()`` then yields the Anthropic event stream. Closing
the ``events()`` iterator cancels generation in the engine.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from epistula import ids
from epistula.engines.base import (
    CachePoint,
    Engine,
    EngineError,
    EngineOverloaded,
    Finished,
    FinishReason,
    GenerationRequest,
    PromptCacheUsage,
    PromptImage,
    PromptTooLong,
    SamplingParams,
    Token,
    TokenEvent,
)
from epistula.engines.cache_usage import input_tokens
from epistula.errors import InternalServerError, InvalidRequestError, OverloadedError
from epistula.protocol.messages import ContextManagementResponse, StopReason
from epistula.protocol.streaming import RawMessageStreamEvent
from epistula.protocol.usage import CacheCreation, Usage

from .assembler import Assembler
from .output import OutputRouter, ThinkingDisplay
from .stops import StopMatcher

log = logging.getLogger("epistula.engine")

_STOP_REASONS: dict[FinishReason, StopReason] = {
    "eos": "end_turn",
    "max_tokens": "max_tokens",
    "context_window": "model_context_window_exceeded",
}


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    """Everything generation needs, computed (and validated) before any response is sent."""

    model: str
    """The model id echoed in the response (what the client asked for)."""
    prompt: tuple[int, ...]
    sampling: SamplingParams
    stop_sequences: tuple[str, ...] = ()
    cache_namespace: str = ""
    cache_points: tuple[CachePoint, ...] = ()
    """``cache_control`` breakpoints as token offsets of ``prompt``."""
    tool_names: tuple[str, ...] = ()
    """Offered tools whose calls are parsed out of the text (empty: no parsing)."""
    server_tools: tuple[str, ...] = ()
    """Offered tools that epistula runs itself: their calls become ``server_tool_use``
    blocks and end the step (see :mod:`epistula.servertools`)."""
    single_tool_call: bool = False
    """Stop after the first tool call (forced choice or ``disable_parallel_tool_use``)."""
    forced_tool: str | None = None
    """The one tool a grammar makes the reply call (``tool_choice`` ``tool``, or ``any`` with
    one tool): a reply the token limit cuts before the name is written is still its call."""
    reasoning: bool = False
    """The model writes ``<think>`` sections."""
    thinking_opened: bool = False
    """The prompt already opened the ``<think>`` section (thinking for a model that does
    not reason natively): the output starts inside it."""
    thinking_display: ThinkingDisplay = "hidden"
    thinking_budget: int | None = None
    """Close the thinking section after this many tokens (``thinking.budget_tokens``)."""
    answer_grammar: str | None = None
    """The grammar for the answer once epistula closed the thinking section itself (the
    lazy structured-output grammar waits for a ``</think>`` the model then never writes)."""
    context_management: ContextManagementResponse | None = None
    """The ``context_management`` edits applied to the prompt (reported in the response)."""
    images: tuple[PromptImage, ...] = ()
    """Image embedding runs of ``prompt`` (a vision model's)."""
    priority: int = 0
    """Engine scheduling priority (lower runs first; batch items run behind live traffic)."""


def map_engine_error(exc: EngineError, request_id: str = "") -> Exception:
    """The client's view of an engine failure. Its text (a llama.cpp message, a path, a
    grammar) is logged with the request id, never sent: clients get a generic message."""
    if isinstance(exc, EngineOverloaded):
        return OverloadedError("Overloaded", retry_after=1)
    if isinstance(exc, PromptTooLong):
        return InvalidRequestError(str(exc))
    log.error("engine failure", extra={"request_id": request_id, "detail": str(exc)}, exc_info=exc)
    return InternalServerError("Internal server error")


class MessageRun:
    def __init__(
        self,
        engine: Engine,
        prepared: PreparedMessage,
        *,
        first_event_wait: float = 1.0,
        sign: Callable[[str], str] | None = None,
        request_id: str = "",
    ) -> None:
        self._engine = engine
        self._request_id = request_id
        self._sign = sign
        self._prepared = prepared
        self._first_event_wait = first_event_wait
        self._agen: AsyncIterator[TokenEvent] | None = None
        self._pending: asyncio.Future[TokenEvent] | None = None
        """The engine's first event, while nobody has taken it."""
        self._exhausted = False
        self._cache_usage: PromptCacheUsage | None = None
        self._buffered: TokenEvent | None = None
        self.message_id = ids.message_id()

    async def open(self) -> None:
        """Admit the request; raise an ``ApiError`` if the engine fails right away.

        With ``max_tokens == 0`` the engine is only needed to write cache
        breakpoints (pre-warming); without any, nothing is generated at all."""
        prepared = self._prepared
        if prepared.sampling.max_tokens == 0 and not prepared.cache_points:
            return
        self._start(prepared.prompt, prepared.sampling, prepared.cache_points)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._first_event_wait
        while self._pending is not None:
            done, _ = await asyncio.wait({self._pending}, timeout=max(deadline - loop.time(), 0))
            if not done:
                return
            exc = self._pending.exception()
            if isinstance(exc, EngineError):
                await self.close()
                raise map_engine_error(exc, self._request_id) from exc
            if exc is not None or not isinstance(self._pending.result(), PromptCacheUsage):
                return
            # The cache report comes at once; keep watching for an early failure.
            report = await self._next_event()
            assert isinstance(report, PromptCacheUsage) and self._agen is not None
            self._cache_usage = report
            self._pending = asyncio.ensure_future(anext(self._agen))

    def _start(
        self, prompt: tuple[int, ...], sampling: SamplingParams, cache_points: tuple[CachePoint, ...] = ()
    ) -> None:
        request = GenerationRequest(
            prompt=prompt,
            sampling=sampling,
            request_id=self.message_id,
            cache_namespace=self._prepared.cache_namespace,
            cache_points=cache_points,
            priority=self._prepared.priority,
            images=self._prepared.images,  # every prompt run starts with the prepared one
        )
        self._agen = self._engine.generate(request)
        self._exhausted = False
        self._pending = asyncio.ensure_future(anext(self._agen))

    async def _close_thinking(self, generated: list[int], produced: int) -> str:
        """Budget spent: end the thinking section ourselves and let the model answer,
        continuing from the prompt plus everything generated plus the closing tag."""
        await self.close()
        closing = "\n</think>\n\n"
        prompt = self._prepared.prompt + tuple(generated) + tuple(self._engine.tokenize(closing))
        remaining = max(self._prepared.sampling.max_tokens - produced, 0)
        sampling = replace(self._prepared.sampling, max_tokens=remaining)
        if self._prepared.answer_grammar is not None:
            sampling = replace(sampling, grammar=self._prepared.answer_grammar, grammar_triggers=())
        self._start(prompt, sampling)
        return closing

    async def close(self) -> None:
        if self._pending is not None:
            if not self._pending.done():
                self._pending.cancel()
            with contextlib.suppress(BaseException):
                await self._pending  # also marks a finished task's exception as retrieved
        self._pending = None
        if self._agen is not None:
            agen, self._agen = self._agen, None
            with contextlib.suppress(Exception):
                await agen.aclose()  # type: ignore[attr-defined]

    async def _next_event(self) -> TokenEvent | None:
        """The engine's next event (None at its end). Only the first one, which ``open``
        may wait for with a timeout, comes through a task: the rest are awaited
        directly, saving a task and an event-loop pass per token."""
        if self._buffered is not None:
            event, self._buffered = self._buffered, None
            return event
        if self._agen is None or self._exhausted:
            return None
        try:
            if self._pending is not None:
                pending, self._pending = self._pending, None
                return await pending
            return await anext(self._agen)
        except StopAsyncIteration:
            self._exhausted = True
            return None
        except EngineError as exc:
            self._exhausted = True
            raise map_engine_error(exc, self._request_id) from exc

    async def _usage(self) -> Usage:
        """The prompt's usage split; with breakpoints it comes from the engine's
        first event (normally already taken by ``open``)."""
        if self._cache_usage is None and self._prepared.cache_points and self._agen is not None:
            first = await self._next_event()
            if isinstance(first, PromptCacheUsage):
                self._cache_usage = first
            else:
                self._buffered = first
        cache = self._cache_usage or PromptCacheUsage()
        return Usage(
            input_tokens=input_tokens(len(self._prepared.prompt), cache),
            output_tokens=0,
            cache_read_input_tokens=cache.read,
            cache_creation_input_tokens=cache.creation,
            cache_creation=CacheCreation(
                ephemeral_5m_input_tokens=cache.creation_5m, ephemeral_1h_input_tokens=cache.creation_1h
            ),
        )

    async def events(self) -> AsyncIterator[RawMessageStreamEvent]:
        try:
            usage = await self._usage()
        except BaseException:
            await self.close()
            raise
        asm = Assembler(
            message_id=self.message_id,
            model=self._prepared.model,
            usage=usage,
            context_management=self._prepared.context_management,
        )
        try:
            for ev in asm.start():
                yield ev
            if self._agen is None:  # max_tokens == 0
                for ev in asm.finish("max_tokens", output_tokens=0):
                    yield ev
                return
            prepared = self._prepared
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            stops = StopMatcher(list(prepared.stop_sequences))
            router = OutputRouter(
                asm,
                tool_names=prepared.tool_names,
                server_tools=prepared.server_tools,
                single_tool_call=prepared.single_tool_call,
                forced_tool=prepared.forced_tool,
                reasoning=prepared.reasoning,
                thinking_opened=prepared.thinking_opened,
                display=prepared.thinking_display,
                sign=self._sign,
            )
            output_tokens = 0
            thinking_tokens = 0
            generated: list[int] = []
            closed = False
            finish: Finished | None = None
            while (event := await self._next_event()) is not None:
                if isinstance(event, Token):
                    output_tokens += 1
                    generated.append(event.id)
                    thinking_tokens += router.in_thinking
                    for ev in router.feed(stops.feed(decoder.decode(event.piece))):
                        yield ev
                    if stops.matched is not None or router.done_calling:
                        break
                    budget = prepared.thinking_budget
                    if budget is not None and router.in_thinking and thinking_tokens >= budget:
                        closing = await self._close_thinking(generated, output_tokens)
                        for ev in router.feed(decoder.decode(b"", final=True) + closing):
                            yield ev
                elif isinstance(event, Finished):
                    if event.reason == "eos" and prepared.thinking_opened and router.in_thinking and not closed:
                        # A model made to think often ends its turn inside the section it
                        # never opened itself: close it and let the answer follow.
                        closed = True
                        closing = await self._close_thinking(generated, output_tokens)
                        for ev in router.feed(decoder.decode(b"", final=True) + closing):
                            yield ev
                        continue
                    finish = event
                    break
                # PromptProgress (and a restarted request's cache report) carry nothing to send
            tail = "" if stops.matched else stops.feed(decoder.decode(b"", final=True)) + stops.flush()
            cut = finish is not None and finish.reason != "eos"
            for ev in router.feed(tail, final=True, cut=cut):
                yield ev
            reason: StopReason = _STOP_REASONS[finish.reason] if finish else "end_turn"
            stop_sequence = None
            if router.done_calling or (asm.tool_uses and not cut):
                reason = "tool_use"
            elif stops.matched is not None:
                reason, stop_sequence = "stop_sequence", stops.matched
            for ev in asm.finish(reason, output_tokens=output_tokens, stop_sequence=stop_sequence):
                yield ev
        finally:
            await self.close()
