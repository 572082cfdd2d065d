"""The server-tool loop: the engine runs the model, epistula runs the tool, the result
is fed back and the model continues, all inside one request.

:class:`ServerToolMessageService` is the message service when the operator enabled a
server tool. A request that offers none takes the plain path. Otherwise each *step* is
an ordinary generation whose prompt is the conversation plus this response's blocks so
far (:mod:`.transcript`); a step that ends in a ``server_tool_use`` block is followed by
its result block, and the next step. The client sees one message: one ``message_start``,
the blocks of every step with continuous indexes, and one ``message_delta`` with the
totals, ``usage.server_tool_use`` and the ``container``. After ``max_steps`` tool calls
the turn stops with ``pause_turn``; sending the turn back continues it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from epistula.auth.keys import Principal
from epistula.citations import with_citations
from epistula.files.service import FileService
from epistula.files.sources import UrlSources
from epistula.generation.accumulate import Accumulator
from epistula.generation.gate import Gate, metered
from epistula.generation.pipeline import MessageRun
from epistula.generation.service import Generation, MessageRequest, MessageService
from epistula.generation.thinking import ThinkingSigner
from epistula.models.catalog import Catalog, ServedModel
from epistula.protocol.content import ContentBlock, ToolUseBlock
from epistula.protocol.messages import MessageCountTokensParams, MessageCreateParams, MessageTokensCount, StopReason
from epistula.protocol.servertools import ServerToolUseBlock
from epistula.protocol.streaming import (
    MessageDelta,
    RawContentBlockEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RawMessageStreamEvent,
)
from epistula.protocol.usage import MessageDeltaUsage

from .base import ToolContext
from .session import ServerTools, Session
from .web_documents import learn_echoed_pdfs


class ServerToolMessageService(MessageService):
    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        *,
        tools: ServerTools,
        max_steps: int = 10,
        files: FileService | None = None,
        signer: ThinkingSigner | None = None,
        first_event_wait: float = 1.0,
        urls: UrlSources | None = None,
    ) -> None:
        super().__init__(catalog, gate, files=files, signer=signer, first_event_wait=first_event_wait, urls=urls)
        self.tools = tools
        self.max_steps = max_steps

    async def count_tokens(
        self, params: MessageCountTokensParams, principal: Principal, request_id: str = ""
    ) -> tuple[MessageTokensCount, dict[str, str]]:
        offered = self.tools.offered(params)
        if not offered:
            return await super().count_tokens(params, principal, request_id)
        context = ToolContext(workspace_id=principal.workspace_id)
        await learn_echoed_pdfs(params.messages, context.pdf_texts)
        session = Session(offered, context)
        return await super().count_tokens(session.counted_params(params), principal, request_id)

    async def start(self, request: MessageRequest, model: ServedModel | None = None) -> Generation:
        if not self.tools.requested(request.params):
            return await super().start(request, model)
        model, params = await self.resolve(request, model)
        session = await self.tools.open(params, request.principal.workspace_id)
        step = session.model_params(params, [], max_tokens=params.max_tokens)
        prepared = session.mark(await self.prepare(step, model, request))
        admission = await self.admit(request, model, prepared)
        run = await self.open_run(model, prepared, request, admission)
        loop = _Loop(self, session, params, model, request)
        events = metered(loop.events(run, step), self.gate, admission)
        return Generation(events=events, run=run, headers=admission.headers, gate=self.gate, admission=admission)


@dataclass(frozen=True, slots=True)
class _Loop:
    """One request's steps, run by ``service`` in ``session``."""

    service: ServerToolMessageService
    session: Session
    params: MessageCreateParams
    model: ServedModel
    request: MessageRequest

    async def events(self, run: MessageRun, step: MessageCreateParams) -> AsyncIterator[RawMessageStreamEvent]:
        turn: list[ContentBlock] = []
        started = False
        input_tokens = cache_read = cache_creation = output_tokens = 0
        while True:
            acc = Accumulator()
            final: RawMessageDeltaEvent | None = None
            try:
                cited, results = self.session.citations(self.params, turn)
                async for event in with_citations(run.events(), cited, results):
                    acc.add(event)
                    if isinstance(event, RawMessageStartEvent):
                        usage = event.message.usage
                        input_tokens += usage.input_tokens
                        cache_read += usage.cache_read_input_tokens
                        cache_creation += usage.cache_creation_input_tokens
                        if not started:
                            started = True
                            yield event
                    elif isinstance(event, RawContentBlockEvent):
                        yield event.model_copy(update={"index": event.index + len(turn)})
                    elif isinstance(event, RawMessageDeltaEvent):
                        final = event
            finally:
                await run.close()
            assert final is not None
            output_tokens += final.usage.output_tokens
            blocks = acc.result().content
            turn += blocks
            reason: StopReason | None = final.delta.stop_reason
            # a call the token limit cut off is not run: the turn ends there
            cut = reason in ("max_tokens", "model_context_window_exceeded")
            call = blocks[-1] if blocks and isinstance(blocks[-1], ServerToolUseBlock) and not cut else None
            if call is not None:
                result = await self.session.execute(call)
                yield RawContentBlockStartEvent(index=len(turn), content_block=result)
                yield RawContentBlockStopEvent(index=len(turn))
                turn.append(result)
                remaining = self.params.max_tokens - output_tokens
                if self.session.calls >= self.service.max_steps:
                    reason = "pause_turn"
                elif remaining <= 0:
                    reason = "max_tokens"
                else:
                    step = self.session.model_params(self.params, turn, max_tokens=remaining)
                    run = await self._next(step)
                    continue
            elif reason == "tool_use" and not any(isinstance(b, ToolUseBlock) for b in blocks):
                reason = "end_turn"
            totals = MessageDeltaUsage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_creation_input_tokens=cache_creation,
                cache_read_input_tokens=cache_read,
                server_tool_use=self.session.usage(),
            )
            delta = MessageDelta(
                stop_reason=reason, stop_sequence=final.delta.stop_sequence, container=self.session.container()
            )
            yield RawMessageDeltaEvent(delta=delta, usage=totals, context_management=final.context_management)
            yield RawMessageStopEvent()
            return

    async def _next(self, step: MessageCreateParams) -> MessageRun:
        service, request = self.service, self.request
        prepared = self.session.mark(await service.prepare(step, self.model, request))
        return await service.open_run(self.model, prepared, request, None)
