"""Run one message: the single path that every API and the batch runner take.

``MessageService.start`` takes validated params, a principal, the API version and a
priority; it resolves the model once, resolves ``file`` documents, validates and prepares
once (:func:`~epistula.generation.prepare.prepare_message`, in a worker thread: the
tokenizer only reads the model's vocabulary, so it may run while the engine decodes),
admits the request at the gate, starts the engine and hands back a :class:`Generation`: the metered event stream
and the gate's response headers. ``/v1/messages``, ``/v1/complete``,
``/v1/chat/completions`` and batch items differ only in how they parse and render.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from epistula.auth.keys import Principal
from epistula.citations import with_citations
from epistula.files.service import FileService
from epistula.files.sources import UrlSources, resolve_file_documents
from epistula.models.catalog import Catalog, ServedModel
from epistula.protocol.messages import (
    CountTokensContextManagement,
    MessageCountTokensParams,
    MessageCreateParams,
    MessageTokensCount,
)
from epistula.protocol.streaming import RawMessageStreamEvent
from epistula.protocol.usage import Usage

from . import compat
from .gate import Admission, Gate, metered
from .pipeline import MessageRun, PreparedMessage
from .prepare import prepare_message, tokenize_prompt
from .thinking import ThinkingSigner

T = TypeVar("T")
P = TypeVar("P", MessageCreateParams, MessageCountTokensParams)

LIVE_PRIORITY = 0
"""Engine scheduling priority of live requests (lower numbers run first)."""
BATCH_PRIORITY = 10
"""Engine scheduling priority of batch items: live traffic is admitted ahead of them."""


@dataclass(frozen=True, slots=True)
class MessageRequest:
    """One validated Messages request and who sent it."""

    params: MessageCreateParams
    principal: Principal
    version: str
    request_id: str
    priority: int = LIVE_PRIORITY
    batch: bool = False
    """A Message Batches item (metered at the batch price, never rate-limited as live)."""


@dataclass(slots=True)
class Generation:
    """An admitted, running generation: its metered events and the gate's response headers."""

    events: AsyncGenerator[RawMessageStreamEvent]
    run: MessageRun
    headers: dict[str, str]
    gate: Gate
    admission: Admission

    async def close(self) -> None:
        """Idempotent. Also right when the events were never iterated (a client gone
        before the body started): the engine stops and the gate still hears the end."""
        await self.events.aclose()
        await self.run.close()
        await self.gate.finish(self.admission, None, "canceled")

    async def translated(self, feed: Callable[[RawMessageStreamEvent], Iterable[T]]) -> AsyncGenerator[T]:
        """The events as another API's stream (``feed`` maps each event to zero or more
        items); finishing or closing it closes the generation."""
        try:
            async for event in self.events:
                for item in feed(event):
                    yield item
        finally:
            await self.close()


class MessageService:
    """Everything between a parsed request and its event stream."""

    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        *,
        files: FileService | None = None,
        signer: ThinkingSigner | None = None,
        first_event_wait: float = 1.0,
        urls: UrlSources | None = None,
    ) -> None:
        self.catalog = catalog
        self.gate = gate
        self._files = files
        self._urls = urls
        self._signer = signer
        self._first_event_wait = first_event_wait

    def model(self, name: str) -> ServedModel:
        """The served model behind ``name`` (an id or an alias); 404 if there is none."""
        return self.catalog.resolve(name)

    async def count_tokens(
        self, params: MessageCountTokensParams, principal: Principal, request_id: str = ""
    ) -> tuple[MessageTokensCount, dict[str, str]]:
        """Exactly the ``input_tokens`` that the same Messages request would be billed (and,
        with ``context_management``, the count before its edits), and the gate's response
        headers. Admitted at the gate as a ``count_tokens`` before any file is read or any
        token counted."""
        model = self.model(params.model)
        compat.note_request(params)
        admission = await self.gate.admit(
            Admission(
                request_id=request_id,
                principal=principal,
                model=model.id,
                input_tokens=0,
                max_tokens=0,
                kind="count_tokens",
            )
        )
        usage: Usage | None = None
        try:
            params = await self._resolve_sources(params, model, principal.workspace_id)
            prompt = await asyncio.to_thread(tokenize_prompt, params, model)
            usage = Usage(input_tokens=len(prompt.ids), output_tokens=0)
        finally:
            await self.gate.finish(admission, usage, "succeeded" if usage is not None else "errored")
        count = MessageTokensCount(input_tokens=len(prompt.ids))
        if prompt.edits is not None and prompt.edits.requested:
            original = count.input_tokens + sum(e.cleared_input_tokens for e in prompt.edits.applied)
            count.context_management = CountTokensContextManagement(original_input_tokens=original)
        return count, admission.headers

    async def start(self, request: MessageRequest, model: ServedModel | None = None) -> Generation:
        """Prepare, admit and start ``request``. Errors before the engine produced anything
        (validation, limits, overload) raise here, so they can still be plain HTTP errors.
        ``model`` is the already-resolved model, when the caller needed it first."""
        model, params = await self.resolve(request, model)
        prepared = await self.prepare(params, model, request)
        admission = await self.admit(request, model, prepared)
        run = await self.open_run(model, prepared, request, admission)
        # Citations re-cut the text first; metering then sees exactly what the client gets.
        events = metered(with_citations(run.events(), params), self.gate, admission)
        return Generation(events=events, run=run, headers=admission.headers, gate=self.gate, admission=admission)

    # The steps of ``start``, also used by the server-tool loop (``epistula.servertools``).

    async def resolve(
        self, request: MessageRequest, model: ServedModel | None = None
    ) -> tuple[ServedModel, MessageCreateParams]:
        """The model, and the params with ``file`` documents resolved."""
        params = request.params
        model = model or self.model(params.model)
        compat.note_request(params)
        params = await self._resolve_sources(params, model, request.principal.workspace_id)
        return model, params

    async def _resolve_sources(self, params: P, model: ServedModel, workspace_id: str) -> P:
        """Files, PDFs and URLs read (off the engine: this only waits on I/O and the PDF child)."""
        vision = model.vision is not None
        return await resolve_file_documents(params, self._files, workspace_id, urls=self._urls, vision=vision)

    async def prepare(
        self, params: MessageCreateParams, model: ServedModel, request: MessageRequest
    ) -> PreparedMessage:
        return await asyncio.to_thread(  # rendering and tokenizing a big prompt takes a while
            prepare_message,
            params,
            model,
            version=request.version,
            cache_namespace=request.principal.workspace_id,
            signer=self._signer,
            priority=request.priority,
        )

    async def admit(self, request: MessageRequest, model: ServedModel, prepared: PreparedMessage) -> Admission:
        return await self.gate.admit(
            Admission(
                request_id=request.request_id,
                principal=request.principal,
                model=model.id,
                input_tokens=len(prepared.prompt),
                max_tokens=request.params.max_tokens,
                batch=request.batch,
            )
        )

    async def open_run(
        self, model: ServedModel, prepared: PreparedMessage, request: MessageRequest, admission: Admission | None
    ) -> MessageRun:
        """A started engine run (with ``admission``: a failure to start finishes it)."""
        sign = self._signer.sign if self._signer is not None else None
        run = MessageRun(
            model.engine, prepared, first_event_wait=self._first_event_wait, sign=sign, request_id=request.request_id
        )
        try:
            await run.open()
        except BaseException:
            if admission is not None:
                await self.gate.finish(admission, None, "errored")
            raise
        return run
