"""Requests shaped exactly as Claude Code 2.1.330 sends them
(../shared/research/claude-code-traffic.md), shortened where texts are long."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = "https://json-schema.org/draft/2020-12/schema"


def _tool(name: str, props: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name} tool. " + "Use it carefully. " * 3,
        "input_schema": {
            "$schema": SCHEMA,
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        },
        **extra,
    }


TOOLS: list[dict[str, Any]] = [
    _tool("Agent", {"description": {"type": "string"}, "prompt": {"type": "string"}}, ["description", "prompt"]),
    _tool(
        "Bash",
        {
            "command": {"type": "string"},
            "timeout": {"type": "number", "maximum": 600000},
            "description": {"type": "string"},
            "run_in_background": {"type": "boolean"},
            "dangerouslyDisableSandbox": {"type": "boolean"},
        },
        ["command"],
    ),
    _tool(
        "Edit",
        {
            "file_path": {"type": "string"},
            "old_string": {"type": "string"},
            "new_string": {"type": "string"},
            "replace_all": {"type": "boolean", "default": False},
        },
        ["file_path", "old_string", "new_string"],
    ),
    _tool("ListAgents", {}, []),
    _tool(
        "Read",
        {
            "file_path": {"type": "string"},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "exclusiveMinimum": 0},
        },
        ["file_path"],
    ),
    _tool(
        "ReportFindings",
        {
            "findings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "severity": {"type": "string", "enum": ["low", "medium", "high"]},
                    },
                    "required": ["title"],
                },
            }
        },
        ["findings"],
    ),
    _tool("ScheduleWakeup", {"seconds": {"type": "integer", "minimum": 1, "maximum": 86400}}, ["seconds"]),
    _tool("Skill", {"skill": {"type": "string"}, "args": {"type": "string"}}, ["skill"]),
    _tool("ToolSearch", {"query": {"type": "string"}, "max_results": {"type": "number", "default": 5}}, ["query"]),
    _tool("Workflow", {"steps": {"type": "array", "items": {"type": "string"}}}, ["steps"]),
    {
        "name": "DeferredToolPlaceholder",
        "description": "placeholder",
        "input_schema": {"type": "object"},
        "defer_loading": True,
    },
    _tool("Write", {"file_path": {"type": "string"}, "content": {"type": "string"}}, ["file_path", "content"]),
]

METADATA = {
    "user_id": json.dumps(
        {"device_id": "a" * 64, "account_uuid": "", "session_id": "5f0c7a4e-2a39-4f7e-9a43-2d2f0c7f1b11"}
    )
}


def system(cch: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "text",
            "text": f"x-anthropic-billing-header: cc_version=2.1.330.{cch}; cc_entrypoint=sdk-cli; cch={cch};",
        },
        {
            "type": "text",
            "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
            "cache_control": {"type": "ephemeral"},
        },
        {
            "type": "text",
            "text": "\nYou are an agent working with the user toward their goals. " * 3,
            "cache_control": {"type": "ephemeral"},
        },
    ]


def first_turn(cch: str = "4a1f2", *, prompt: str = "List the files in this directory") -> dict[str, Any]:
    return {
        "model": "claude-opus-5-5",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>\nAttribution: keep commits tidy.\n</system-reminder>"},
                    {"type": "text", "text": prompt},
                ],
            },
            {
                "role": "system",
                "content": [
                    {
                        "type": "text",
                        "text": "# Environment\nYou have been invoked in /tmp/x.",
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
                "output_config": {"effort": "medium"},
            },
        ],
        "system": system(cch),
        "tools": TOOLS,
        "metadata": METADATA,
        "max_tokens": 128000,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "stream": True,
    }


def second_turn(
    first: dict[str, Any], assistant_content: list[dict[str, Any]], tool_use_id: str, cch: str = "9c3d0"
) -> dict[str, Any]:
    """The follow-up: the system message re-sent as a plain string, the assistant turn echoed
    verbatim, the tool result with cache_control; a new billing-header hash."""
    body = json.loads(json.dumps(first))
    body["system"] = system(cch)
    body["messages"][1] = {
        "role": "system",
        "content": "# Environment\nYou have been invoked in /tmp/x.",
        "output_config": {"effort": "medium"},
    }
    body["messages"] += [
        {"role": "assistant", "content": assistant_content},
        {
            "role": "user",
            "content": [
                {
                    "tool_use_id": tool_use_id,
                    "type": "tool_result",
                    "content": "main.py\nnotes.txt\n",
                    "is_error": False,
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
    ]
    return body


HEADERS = {
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "thinking-token-count-2026-05-13,per-turn-control-2026-07-01,mid-conversation-tool-changes-2026-07-01,"
    "effort-2025-11-24",
    "x-app": "cli",
    "user-agent": "claude-cli/2.1.330 (external, sdk-cli)",
    "anthropic-dangerous-direct-browser-access": "true",
}


BARE_REQUEST = Path(__file__).with_name("claude_code_bare_request.json")
"""``claude --bare -p PROMPT`` as Claude Code 2.1.330 sent it (recorded with ANTHROPIC_MODEL=claude-sonnet-4-6
and CLAUDE_CODE_MAX_OUTPUT_TOKENS=512): Bash, Edit and Read with their full schemas, a short system prompt."""


def bare_turn(prompt: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(BARE_REQUEST.read_text())
    body["messages"][0]["content"][0]["text"] = prompt
    return body
