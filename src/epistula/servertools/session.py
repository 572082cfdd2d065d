"""One request's server tools: which are offered, its container and uploads, the calls run so far."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from epistula.citations import Chunk
from epistula.errors import InvalidRequestError
from epistula.files.service import FileService
from epistula.generation.pipeline import PreparedMessage
from epistula.protocol.content import ContainerUploadBlockParam, ContentBlock, TextBlockParam
from epistula.protocol.messages import MessageCountTokensParams, MessageCreateParams, PromptParams
from epistula.protocol.servertools import (
    Container,
    ContainerParams,
    ServerToolResultBlock,
    ServerToolUsage,
    ServerToolUseBlock,
)
from epistula.protocol.tools import Tool, VersionedTool
from epistula.skills.service import SkillService

from . import transcript
from .base import ServerTool, ToolContext, field_error
from .containers import ContainerRegistry
from .sandbox.bubblewrap import UPLOADS
from .search_citations import search_chunks
from .skills_mount import MountedSkill, mount_skills, skills_prompt
from .web_documents import learn_echoed_pdfs, with_pdf_text
from .web_tools import WebFetchTool, prior_sources


def _container_params(raw: str | dict[str, Any] | None) -> ContainerParams:
    """The request's ``container`` (an id, or ``{"id", "skills"}``); a 400 naming the field."""
    if raw is None or isinstance(raw, str):
        return ContainerParams(id=raw)
    try:
        return ContainerParams.model_validate(raw)
    except ValidationError as exc:
        raise field_error("container", exc) from None


class ServerTools:
    """The server tools the operator enabled, and the containers they run in."""

    def __init__(
        self,
        tools: list[ServerTool],
        containers: ContainerRegistry,
        files: FileService | None,
        *,
        reveal: transcript.Reveal | None = None,
        skills: SkillService | None = None,
    ) -> None:
        self._by_kind = {kind: tool for tool in tools for kind in tool.kinds}
        self._containers = containers
        self._files = files
        self._reveal = reveal
        self._skills = skills

    def requested(self, params: MessageCreateParams) -> bool:
        """The request offers a tool epistula runs (or names a container)."""
        kinds = {t.type for t in params.tools or [] if isinstance(t, VersionedTool)}
        return bool(kinds & self._by_kind.keys()) or params.container is not None

    def offered(self, params: PromptParams) -> list[tuple[VersionedTool, ServerTool]]:
        """The request's server-tool definitions that epistula runs, with their tools."""
        return [
            (t, self._by_kind[t.type])
            for t in params.tools or []
            if isinstance(t, VersionedTool) and t.type in self._by_kind
        ]

    async def open(self, params: MessageCreateParams, workspace_id: str) -> Session:
        """The request's session; 400/404 (before any response) for a bad definition, an
        unknown container or file."""
        for index, definition in enumerate(params.tools or []):
            if isinstance(definition, VersionedTool) and definition.type in self._by_kind:
                self._by_kind[definition.type].check(index, definition)
        offered = self.offered(params)
        context = ToolContext(workspace_id=workspace_id)
        if any(isinstance(tool, WebFetchTool) for _, tool in offered):
            context.sources = prior_sources(params)
        await learn_echoed_pdfs(params.messages, context.pdf_texts)
        upload_ids = [
            b.file_id
            for m in params.messages
            if not isinstance(m.content, str)
            for b in m.content
            if isinstance(b, ContainerUploadBlockParam)
        ]
        skills: list[MountedSkill] = []
        if params.container is not None or upload_ids or any(tool.needs_container for _, tool in offered):
            wanted = _container_params(params.container)
            if wanted.skills and not any(tool.needs_container for _, tool in offered):
                raise InvalidRequestError("container.skills: skills need the code execution tool")
            context.container = await asyncio.to_thread(self._containers.open, workspace_id, wanted.id)
            for file_id in dict.fromkeys(upload_ids):
                context.uploads[file_id] = await self._mount(context, file_id)
            skills = await mount_skills(self._skills, workspace_id, context.container, wanted.skills or [])
        return Session(offered, context, self._reveal, skills)

    async def _mount(self, context: ToolContext, file_id: str) -> str:
        if self._files is None:
            raise InvalidRequestError("container_upload: uploads need the Files API, which is not enabled")
        record, data = await self._files.read(context.workspace_id, file_id)
        assert context.container is not None
        name = record.filename if record.filename not in (".", "..") else file_id
        target = context.container.uploads / name
        if target.exists() and target.read_bytes() != data:
            name = f"{file_id}-{name}"
            target = context.container.uploads / name

        def write() -> None:
            target.write_bytes(data)
            os.chmod(target, 0o444)

        if not target.exists():
            await asyncio.to_thread(write)
        return f"{UPLOADS}/{name}"


class Session:
    def __init__(
        self,
        offered: list[tuple[VersionedTool, ServerTool]],
        context: ToolContext,
        reveal: transcript.Reveal | None = None,
        skills: list[MountedSkill] | None = None,
    ) -> None:
        self._skills = skills or []
        self._served: dict[str, list[Tool]] = {d.type: tool.model_tools(d.type) for d, tool in offered}
        self._forced = {(d.name or d.type.rsplit("_", 1)[0]): tool.forced(d.type) for d, tool in offered}
        self._by_name = {t.name: (tool, d) for d, tool in offered for t in self._served[d.type]}
        self._reveal = reveal
        self.context = context
        self.calls = 0
        self._usage = ServerToolUsage()

    def model_params(self, params: MessageCreateParams, turn: list[ContentBlock], *, max_tokens: int) -> Any:
        """The request as the model sees it, ``turn`` (this response's blocks so far) included."""
        update = self._model_update(params, turn)
        return params.model_copy(update={**update, "container": None, "max_tokens": max_tokens})

    def citations(
        self, params: MessageCreateParams, turn: list[ContentBlock]
    ) -> tuple[MessageCreateParams, list[Chunk]]:
        """What the step's citations point into: the params whose documents count (the
        client's, and the pages fetched in earlier turns and this response, in conversation
        order, fetched PDFs as their pages), and the web search results' sentences. None
        of the tools' sources with structured outputs: a JSON reply is one text block."""
        if (params.output_config is not None and params.output_config.format is not None) or params.output_format:
            return params, []
        messages = with_pdf_text(transcript.with_turn(params, turn), self.context.pdf_texts)
        return params.model_copy(update={"messages": messages}), search_chunks(messages, self._reveal)

    def counted_params(self, params: MessageCountTokensParams) -> MessageCountTokensParams:
        """What ``count_tokens`` tokenizes: the first step's prompt (uploads named by file id)."""
        return params.model_copy(update=self._model_update(params, []))

    def _model_update(self, params: PromptParams, turn: list[ContentBlock]) -> dict[str, Any]:
        last = params.messages[-1].role if params.messages else None
        update: dict[str, Any] = {
            "messages": transcript.conversation(
                params, turn, self.context.uploads, self._reveal, self.context.pdf_texts
            ),
            "tool_choice": transcript.tool_choice(params.tool_choice, self._forced, first=not turn, last_role=last),
        }
        if params.tools is not None:
            update["tools"] = transcript.model_tools(list(params.tools), self._served)
        if self._skills:
            system = params.system or []
            head = [TextBlockParam(type="text", text=system)] if isinstance(system, str) else list(system)
            update["system"] = [*head, skills_prompt(self._skills)]
        return update

    def mark(self, prepared: PreparedMessage) -> PreparedMessage:
        """``prepared`` with the calls to run here marked as server calls."""
        return replace(prepared, server_tools=tuple(name for name in self._by_name if name in prepared.tool_names))

    async def execute(self, call: ServerToolUseBlock) -> ServerToolResultBlock:
        """Run ``call``; a call that ran (its result is no error) counts in ``usage.server_tool_use``."""
        tool, definition = self._by_name[call.name]
        self.calls += 1
        self.context.uses[call.name] += 1
        result = await tool.execute(call, definition, self.context)
        if tool.counter is not None and getattr(result.content, "error_code", None) is None:
            setattr(self._usage, tool.counter, getattr(self._usage, tool.counter) + 1)
        return result

    def container(self) -> Container | None:
        if self.context.container is None:
            return None
        info = self.context.container.info()
        return info.model_copy(update={"skills": [s.info for s in self._skills]}) if self._skills else info

    def usage(self) -> ServerToolUsage | None:
        """``usage.server_tool_use`` once a server tool ran."""
        return self._usage.model_copy() if self.calls else None
