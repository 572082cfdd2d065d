"""What a server tool is to the loop: the tools the model sees in its place, and a way
to run one call: code execution, web fetch and web search."""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from epistula.errors import InvalidRequestError
from epistula.protocol.servertools import ServerToolResultBlock, ServerToolUseBlock
from epistula.protocol.tools import Tool, VersionedTool

from .containers import Container

Counter = Literal["web_search_requests", "web_fetch_requests"]


@dataclass(slots=True)
class ToolContext:
    """Where a call runs: the caller's workspace, and the request's container (if any tool needs one)."""

    workspace_id: str
    container: Container | None = None
    uploads: dict[str, str] = field(default_factory=dict)
    """``container_upload`` file ids -> their path in the sandbox."""
    uses: Tally[str] = field(default_factory=Tally)
    """Calls of each model-facing tool in this request so far, the current one included."""
    sources: list[str] = field(default_factory=list)
    """Text that URLs may be fetched from: the user's messages, earlier search and fetch results."""
    pdf_texts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The page texts of fetched PDFs (:mod:`.web_documents`)."""


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

    def check(self, index: int, definition: VersionedTool) -> None:
        """The real API's rules for the request's definition (``tools.<index>``): a 400 before the response."""
        ...

    def forced(self, kind: str) -> str:
        """The model-facing tool that ``tool_choice: {"type": "tool", "name": <the definition's name>}`` forces."""
        ...

    async def execute(
        self, call: ServerToolUseBlock, definition: VersionedTool, context: ToolContext
    ) -> ServerToolResultBlock:
        """Run one call of the tool that ``definition`` offered. Failures are results (a
        block carrying an ``error_code``), never exceptions."""
        ...


Code = TypeVar("Code", bound=str)


class ToolFailed(Exception, Generic[Code]):
    """A server tool's run ends with the error result ``code`` (``detail`` is for the log)."""

    def __init__(self, code: Code, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code: Code = code


Definition = TypeVar("Definition", bound=BaseModel)


def parse_definition(index: int, definition: VersionedTool, model: type[Definition]) -> Definition:
    """The request's definition as ``model``; a 400 naming the field (``tools.0.web_fetch_20250910.max_uses``)."""
    try:
        return model.model_validate(definition.model_dump(exclude_unset=True))
    except ValidationError as exc:
        raise field_error(f"tools.{index}.{definition.type}", exc) from None


def field_error(prefix: str, exc: ValidationError) -> InvalidRequestError:
    """The 400 for a request part that failed validation, naming the field under ``prefix``."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in (prefix, *error["loc"]))
    return InvalidRequestError(f"{where}: {error['msg']}")


def one_argument_tool(name: str, description: str, argument: str, argument_description: str) -> Tool:
    """The tool a server tool shows the model when it takes one required string argument
    (``{"command": ...}``, ``{"code": ...}``, ``{"url": ...}``), nothing else allowed."""
    return Tool.model_validate(
        {
            "name": name,
            "description": description,
            "input_schema": {
                "type": "object",
                "properties": {argument: {"type": "string", "description": argument_description}},
                "required": [argument],
                "additionalProperties": False,
            },
        }
    )
