"""Server tools: tools that epistula runs itself inside a Messages request (code execution
in a bubblewrap sandbox, web fetch, web search), and the loop that feeds their results
back to the model."""

from __future__ import annotations

from epistula.config import Settings
from epistula.files.service import FileService
from epistula.generation.gate import Gate
from epistula.generation.service import MessageService
from epistula.generation.thinking import ThinkingSigner
from epistula.models.catalog import Catalog
from epistula.skills.service import SkillService

from .base import ServerTool
from .code_execution import CodeExecution
from .containers import ContainerRegistry
from .loop import ServerToolMessageService
from .sandbox.bubblewrap import Bubblewrap, Limits
from .session import ServerTools
from .transcript import Reveal
from .url_sources import UrlSourceFetcher
from .web_fetch import WebFetcher
from .web_search import WebSearcher
from .web_tools import WebFetchTool, WebSearchTool


def sandbox_from(settings: Settings) -> Bubblewrap:
    limits = Limits(
        timeout=settings.code_execution_timeout,
        memory_bytes=settings.code_execution_memory_mb << 20,
        processes=settings.code_execution_processes,
        disk_bytes=settings.code_execution_disk_mb << 20,
    )
    return Bubblewrap(limits, uid=settings.code_execution_uid)


def enabled_server_tools(settings: Settings) -> frozenset[str]:
    """The server tools the operator turned on: ``code_execution``, ``web_fetch``, ``web_search``."""
    enabled = {
        "code_execution": settings.code_execution,
        "web_fetch": settings.web_fetch.enabled,
        "web_search": bool(settings.web_search.searxng_url),
    }
    return frozenset(name for name, on in enabled.items() if on)


def message_service(
    settings: Settings,
    catalog: Catalog,
    gate: Gate,
    *,
    files: FileService | None = None,
    signer: ThinkingSigner | None = None,
    skills: SkillService | None = None,
) -> MessageService:
    """The message service: with the server-tool loop when the operator enabled a server tool."""
    tools: list[ServerTool] = []
    reveal: Reveal | None = None
    enabled = enabled_server_tools(settings)
    if "code_execution" in enabled:
        tools.append(CodeExecution(sandbox_from(settings), files=files))
    if "web_fetch" in enabled:
        tools.append(WebFetchTool(WebFetcher(settings.web_fetch)))
    searcher = WebSearcher.from_settings(settings)
    if searcher is not None:
        tools.append(WebSearchTool(searcher))
        reveal = searcher.seal.snippet
    urls = UrlSourceFetcher(settings.url_sources) if settings.url_sources.enabled else None
    if not tools:
        wait = settings.first_event_wait
        return MessageService(catalog, gate, files=files, signer=signer, first_event_wait=wait, urls=urls)
    sandbox_uid = settings.code_execution_uid
    containers = ContainerRegistry(settings.data_dir / "containers", ttl=settings.container_ttl, owner_uid=sandbox_uid)
    return ServerToolMessageService(
        catalog,
        gate,
        tools=ServerTools(tools, containers, files, reveal=reveal, skills=skills),
        max_steps=settings.server_tool_max_steps,
        files=files,
        signer=signer,
        first_event_wait=settings.first_event_wait,
        urls=urls,
    )
