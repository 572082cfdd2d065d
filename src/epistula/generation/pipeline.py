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
from collections.abc import AsyncIterator
from dataclasses import dataclass

from epistula import ids
from epistula.engines.base import (
    Engine,
    EngineError,
    EngineOverloaded,
    Finished,
    FinishReason,
    GenerationRequest,
    PromptTooLong,
    SamplingParams,
    Token,
    TokenEvent,
)
from epistula.errors import InternalServerError, InvalidRequestError, OverloadedError
from epistula.protocol.messages import StopReason
from epistula.protocol.streaming import RawMessageStreamEvent
from epistula.protocol.usage import Usage

from epistula.parsing.toolcalls import ToolCall, ToolCallParser

from .assembler import Assembler
from .stops import StopMatcher

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
    tool_names: tuple[str, ...] = ()
    """Offered tools whose calls are parsed out of the text (empty: no parsing)."""
    single_tool_call: bool = False
    """Stop after the first tool call (forced choice or ``disable_parallel_tool_use``)."""


def map_engine_error(exc: EngineError) -> Exception:
    if isinstance(exc, EngineOverloaded):
        return OverloadedError("Overloaded", retry_after=1)
    if isinstance(exc, PromptTooLong):
        return InvalidRequestError(str(exc))
    return InternalServerError(f"engine failure: {exc}")


class MessageRun:
    def __init__(self, engine: Engine, prepared: PreparedMessage, *, first_event_wait: float = 1.0) -> None:
        self._engine = engine
        self._prepared = prepared
        self._first_event_wait = first_event_wait
        self._agen: AsyncIterator[TokenEvent] | None = None
        self._pending: asyncio.Future[TokenEvent] | None = None
        self.message_id = ids.message_id()

    async def open(self) -> None:
        """Admit the request; raise an ``ApiError`` if the engine fails right away."""
        if self._prepared.sampling.max_tokens == 0:
            return
        request = GenerationRequest(
            prompt=self._prepared.prompt,
            sampling=self._prepared.sampling,
            request_id=self.message_id,
            cache_namespace=self._prepared.cache_namespace,
        )
        self._agen = self._engine.generate(request)
        self._pending = asyncio.ensure_future(anext(self._agen))
        done, _ = await asyncio.wait({self._pending}, timeout=self._first_event_wait)
        if done:
            exc = self._pending.exception()
            if isinstance(exc, EngineError):
                await self.close()
                raise map_engine_error(exc) from exc

    async def close(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            with contextlib.suppress(BaseException):
                await self._pending
        self._pending = None
        if self._agen is not None:
            agen, self._agen = self._agen, None
            with contextlib.suppress(Exception):
                await agen.aclose()  # type: ignore[attr-defined]

    async def _next_event(self) -> TokenEvent | None:
        if self._pending is None:
            return None
        try:
            event = await self._pending
        except StopAsyncIteration:
            self._pending = None
            return None
        except EngineError as exc:
            self._pending = None
            raise map_engine_error(exc) from exc
        assert self._agen is not None
        self._pending = asyncio.ensure_future(anext(self._agen))
        return event

    async def events(self) -> AsyncIterator[RawMessageStreamEvent]:
        prompt_tokens = len(self._prepared.prompt)
        usage = Usage(input_tokens=prompt_tokens, output_tokens=0)
        asm = Assembler(message_id=self.message_id, model=self._prepared.model, usage=usage)
        try:
            for ev in asm.start():
                yield ev
            if self._agen is None:  # max_tokens == 0
                for ev in asm.finish("max_tokens", output_tokens=0):
                    yield ev
                return
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            stops = StopMatcher(list(self._prepared.stop_sequences))
            parser = ToolCallParser(self._prepared.tool_names) if self._prepared.tool_names else None
            output_tokens = 0
            finish: Finished | None = None
            done_calling = False

            def emit(text: str, final: bool = False) -> list[RawMessageStreamEvent]:
                nonlocal done_calling
                if parser is None:
                    return asm.text(text)
                out: list[RawMessageStreamEvent] = []
                for item in parser.feed(text) + (parser.finish() if final else []):
                    if isinstance(item, ToolCall):
                        if done_calling:
                            continue
                        out += asm.tool_use(ids.tool_use_id(), item.name, item.input)
                        done_calling = self._prepared.single_tool_call
                    elif not done_calling:
                        out += asm.text(item.text)
                return out

            while (event := await self._next_event()) is not None:
                if isinstance(event, Token):
                    output_tokens += 1
                    for ev in emit(stops.feed(decoder.decode(event.piece))):
                        yield ev
                    if stops.matched is not None or done_calling:
                        break
                elif isinstance(event, Finished):
                    finish = event
                    break
            if stops.matched is not None and not asm.tool_uses:
                for ev in emit("", final=True):
                    yield ev
                for ev in asm.finish("stop_sequence", output_tokens=output_tokens, stop_sequence=stops.matched):
                    yield ev
                return
            tail = "" if stops.matched else stops.feed(decoder.decode(b"", final=True)) + stops.flush()
            for ev in emit(tail, final=True):
                yield ev
            reason: StopReason = _STOP_REASONS[finish.reason] if finish else "end_turn"
            if done_calling or (asm.tool_uses and reason != "max_tokens"):
                reason = "tool_use"
            for ev in asm.finish(reason, output_tokens=output_tokens):
                yield ev
        finally:
            await self.close()
