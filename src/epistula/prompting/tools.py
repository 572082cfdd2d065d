"""How tool definitions reach the model.

Models whose chat template speaks tools get them through the template's ``tools``
variable (the shape Hugging Face templates expect). Others get our own
instructions in the system prompt, asking for Hermes-style
``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` calls — the syntax the
parser and the constrained-decoding grammar use.
"""

from __future__ import annotations

import json
from typing import Any

from epistula.prompting.builtin_tools import as_custom_tool
from epistula.protocol.tools import Tool, VersionedTool


def tool_spec(tool: Tool) -> dict[str, Any]:
    """The template-variable shape of one tool."""
    schema = tool.input_schema.model_dump(exclude_none=True)
    schema.pop("$schema", None)
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description or "", "parameters": schema},
    }


def visible_tools(tools: list[Any] | None) -> list[Tool]:
    """Custom tools the model should see (``defer_loading`` tools stay hidden until
    surfaced by tool search, as on the real API); Anthropic-defined client tools
    (``bash_20250124`` ...) take part as custom tools with their documented schemas."""
    out: list[Tool] = []
    for tool in tools or []:
        custom = tool if isinstance(tool, Tool) else as_custom_tool(tool) if isinstance(tool, VersionedTool) else None
        if custom is not None and not custom.defer_loading:
            out.append(custom)
    return out


def tool_instructions(tools: list[Tool], *, required: str | None = None) -> str:
    """Our tool-calling prompt for templates without tool support."""
    lines = [
        "# Tools",
        "",
        "You may call one or more functions to assist with the user query.",
        "You are provided with function signatures within <tools></tools> XML tags:",
        "<tools>",
    ]
    lines += [json.dumps(tool_spec(t), ensure_ascii=False) for t in tools]
    lines += [
        "</tools>",
        "",
        "For each function call, return a json object with function name and arguments "
        "within <tool_call></tool_call> XML tags:",
        "<tool_call>",
        '{"name": <function-name>, "arguments": <args-json-object>}',
        "</tool_call>",
    ]
    if required:
        lines += ["", required]
    return "\n".join(lines)
