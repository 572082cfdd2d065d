"""What a server tool is to the loop: the tools the model sees in its place, and a way
to run one call. Code execution is one; web fetch and search plug in the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from epistula.protocol.servertools import ServerToolResultBlock, ServerToolUseBlock
from epistula.protocol.tools import Tool

from .containers import Container

Counter = Literal["web_search_requests", "web_fetch_requests"]


@dataclass(slots=True)
class ToolContext:
    """Where a call runs: the caller's workspace, and the request's container (if any tool needs one)."""

    workspace_id: str
    container: Container | None = None
    uploads: dict[str, str] = field(default_factory=dict)
    """``container_upload`` file ids -> their path in the sandbox."""


class ServerTool(Protocol):
    kinds: tuple[str, ...]
    """The definition ``type`` values it serves (``code_execution_20250825`` ...)."""
    needs_container: bool
    counter: Counter | None
    """The ``usage.server_tool_use`` field its calls count in (None: not counted there)."""

    def model_tools(self, kind: str) -> list[Tool]:
        """The custom tools the model is shown in place of a ``kind`` definition; its
        calls of them are this tool's ``server_tool_use`` blocks."""
        ...

    def forced(self, kind: str) -> str:
        """The model-facing tool that ``tool_choice: {"type": "tool", "name": <the definition's name>}`` forces."""
        ...

    async def execute(self, call: ServerToolUseBlock, context: ToolContext) -> ServerToolResultBlock:
        """Run one call. Failures are results (a block carrying an ``error_code``), never exceptions."""
        ...
