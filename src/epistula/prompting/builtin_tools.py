"""Anthropic-defined tools (``"type": "bash_20250124"`` ...) on a local model.

*Client* tools (bash, the text editor, computer use, memory) are executed by the caller,
exactly like custom tools: the model only has to emit a ``tool_use`` block with the
documented input. Claude knows their schemas from training; a local model does not, so
each becomes an ordinary custom tool with its documented input schema. Its calls are then
parsed, and constrained by grammar, like any other tool's.

*Server* tools (web search and fetch, code execution, tool search, advisor, MCP toolsets)
run on Anthropic's servers and produce ``server_tool_use`` blocks; epistula cannot run
them and says so with a precise 400. So do the 2026 toolsets, whose calls carry a
``toolset_name`` instead of a fixed tool name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from epistula.errors import InvalidRequestError
from epistula.protocol.tools import Tool, VersionedTool

_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": False}


def _variant(command: str, props: dict[str, Any], required: list[str], key: str = "command") -> dict[str, Any]:
    """One command of a command-dispatched tool: ``command`` first, then its own fields."""
    return {
        **_OBJECT,
        "properties": {key: {"const": command}, **props},
        "required": [key, *required],
    }


_PATH = {"path": {"type": "string", "description": "Absolute path to the file or directory."}}
_VIEW_RANGE = {
    "view_range": {
        "type": "array",
        "prefixItems": [{"type": "integer", "minimum": 1}, {"type": "integer", "minimum": -1}],
        "minItems": 2,
        "maxItems": 2,
        "description": "Optional [start_line, end_line] (1-based; end -1 reads to the end of the file).",
    }
}


def _editor_schema(*, undo: bool) -> dict[str, Any]:
    variants = [
        _variant("view", {**_PATH, **_VIEW_RANGE}, ["path"]),
        _variant("create", {**_PATH, "file_text": {"type": "string"}}, ["path", "file_text"]),
        _variant(
            "str_replace",
            {**_PATH, "old_str": {"type": "string"}, "new_str": {"type": "string"}},
            ["path", "old_str"],
        ),
        _variant(
            "insert",
            {**_PATH, "insert_line": {"type": "integer", "minimum": 0}, "new_str": {"type": "string"}},
            ["path", "insert_line", "new_str"],
        ),
    ]
    if undo:
        variants.append(_variant("undo_edit", _PATH, ["path"]))
    return {"type": "object", "anyOf": variants}


_EDITOR_DESCRIPTION = (
    "View, create and edit text files. `view` shows a file with line numbers (or lists a directory); "
    "`create` writes a new file with `file_text`; `str_replace` replaces the exact, unique text `old_str` "
    "by `new_str`; `insert` adds `new_str` after line `insert_line` (0: at the top)"
)

_BASH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "anyOf": [
        {
            **_OBJECT,
            "properties": {"command": {"type": "string", "description": "The bash command to run."}},
            "required": ["command"],
        },
        {
            **_OBJECT,
            "properties": {"restart": {"const": True, "description": "Restart the shell."}},
            "required": ["restart"],
        },
    ],
}

_MEMORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "anyOf": [
        _variant("view", {**_PATH, **_VIEW_RANGE}, ["path"]),
        _variant("create", {**_PATH, "file_text": {"type": "string"}}, ["path", "file_text"]),
        _variant(
            "str_replace",
            {**_PATH, "old_str": {"type": "string"}, "new_str": {"type": "string"}},
            ["path", "old_str", "new_str"],
        ),
        _variant(
            "insert",
            {**_PATH, "insert_line": {"type": "integer", "minimum": 0}, "insert_text": {"type": "string"}},
            ["path", "insert_line", "insert_text"],
        ),
        _variant("delete", _PATH, ["path"]),
        _variant("rename", {"old_path": {"type": "string"}, "new_path": {"type": "string"}}, ["old_path", "new_path"]),
    ],
}

_COMPUTER_ACTIONS_2024 = [
    "key",
    "type",
    "mouse_move",
    "left_click",
    "left_click_drag",
    "right_click",
    "middle_click",
    "double_click",
    "screenshot",
    "cursor_position",
]
_COMPUTER_ACTIONS_2025 = [
    *_COMPUTER_ACTIONS_2024,
    "left_mouse_down",
    "left_mouse_up",
    "scroll",
    "hold_key",
    "wait",
    "triple_click",
]


def _computer_schema(tool: VersionedTool, actions: list[str], *, zoom: bool) -> dict[str, Any]:
    """Coordinates are bounded by the display the tool definition declares."""
    extra = tool.model_extra or {}
    width, height = int(extra["display_width_px"]), int(extra["display_height_px"])
    point = {
        "type": "array",
        "prefixItems": [
            {"type": "integer", "minimum": 0, "maximum": width - 1},
            {"type": "integer", "minimum": 0, "maximum": height - 1},
        ],
        "minItems": 2,
        "maxItems": 2,
    }
    props: dict[str, Any] = {
        "action": {"enum": [*actions, "zoom"] if zoom else actions},
        "coordinate": point,
        "text": {"type": "string"},
    }
    if actions is _COMPUTER_ACTIONS_2025:
        props |= {
            "start_coordinate": point,
            "scroll_direction": {"enum": ["up", "down", "left", "right"]},
            "scroll_amount": {"type": "integer", "minimum": 0},
            "duration": {"type": "number", "minimum": 0},
        }
    if zoom:
        props["region"] = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 4, "maxItems": 4}
    return {**_OBJECT, "properties": props, "required": ["action"]}


@dataclass(frozen=True, slots=True)
class ClientTool:
    """A client-executed Anthropic tool version: its fixed name and how the model sees it."""

    name: str
    description: str
    required_fields: tuple[str, ...] = ()
    """Fields the tool *definition* must carry (``display_width_px`` ...)."""

    def schema(self, tool: VersionedTool) -> dict[str, Any]:
        kind = tool.type
        if kind.startswith("bash_"):
            return _BASH_SCHEMA
        if kind.startswith("text_editor_"):
            return _editor_schema(undo=kind in ("text_editor_20241022", "text_editor_20250124"))
        if kind.startswith("memory_"):
            return _MEMORY_SCHEMA
        if kind == "computer_20241022":
            return _computer_schema(tool, _COMPUTER_ACTIONS_2024, zoom=False)
        return _computer_schema(tool, _COMPUTER_ACTIONS_2025, zoom=kind == "computer_20251124")


_BASH = ClientTool("bash", "Run a command in a persistent bash shell and return its output.")
_EDITOR_OLD = ClientTool("str_replace_editor", _EDITOR_DESCRIPTION + "; `undo_edit` reverts the last edit.")
_EDITOR = ClientTool("str_replace_based_edit_tool", _EDITOR_DESCRIPTION + ".")
_COMPUTER = ClientTool(
    "computer",
    "Control the computer's screen, mouse and keyboard; `screenshot` returns what is on the display.",
    required_fields=("display_width_px", "display_height_px"),
)
_MEMORY = ClientTool(
    "memory",
    "Your memory directory (/memories) that persists between conversations: view, create, edit, "
    "delete and rename files in it.",
)

CLIENT_TOOLS: dict[str, ClientTool] = {
    "bash_20241022": _BASH,
    "bash_20250124": _BASH,
    "text_editor_20241022": _EDITOR_OLD,
    "text_editor_20250124": _EDITOR_OLD,
    "text_editor_20250429": _EDITOR,
    "text_editor_20250728": _EDITOR,
    "computer_20241022": _COMPUTER,
    "computer_20250124": _COMPUTER,
    "computer_20251124": _COMPUTER,
    "memory_20250818": _MEMORY,
}
"""Every client tool version in the API reference, by ``type``."""

SERVER_TOOL_PREFIXES = (
    "web_search_",
    "web_fetch_",
    "code_execution_",
    "tool_search_tool_",
    "advisor_",
    "mcp_toolset",
)
TOOLSETS = ("computer_toolset_", "browser_toolset_")


def check_tool(index: int, tool: VersionedTool) -> None:
    """The real API's shape rules for a client tool, and a precise 400 for what epistula
    cannot offer."""
    kind = tool.type
    client = CLIENT_TOOLS.get(kind)
    if client is not None:
        if tool.name != client.name:
            raise InvalidRequestError(f"tools.{index}.{kind}.name: Input should be '{client.name}'")
        for field in client.required_fields:
            value = (tool.model_extra or {}).get(field)
            if value is None:
                raise InvalidRequestError(f"tools.{index}.{kind}.{field}: Field required")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidRequestError(f"tools.{index}.{kind}.{field}: Input should be a positive integer")
        return
    if kind.startswith(SERVER_TOOL_PREFIXES):
        raise InvalidRequestError(
            f"tools.{index}: `{kind}` is a server tool (Anthropic runs it on its own servers) and is not "
            "supported by epistula; client tools such as `bash_20250124` or `text_editor_20250728` are"
        )
    if kind.startswith(TOOLSETS):
        raise InvalidRequestError(f"tools.{index}: the toolset `{kind}` is not supported by epistula")
    raise InvalidRequestError(f"tools.{index}: the Anthropic-defined tool `{kind}` is not supported by epistula")


def as_custom_tool(tool: VersionedTool) -> Tool | None:
    """The custom tool a client tool stands for (None for anything else)."""
    client = CLIENT_TOOLS.get(tool.type)
    if client is None:
        return None
    extra = tool.model_extra or {}
    return Tool.model_validate(
        {
            "name": client.name,
            "description": client.description,
            "input_schema": client.schema(tool),
            "cache_control": tool.cache_control,
            "defer_loading": extra.get("defer_loading"),
        }
    )
