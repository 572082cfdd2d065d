"""The conversation as the model sees it when epistula runs server tools.

The model knows only custom tools, so the request is rewritten before it is prepared:

* each server-tool definition becomes the custom tools that stand for it (code execution:
  ``bash_code_execution`` and ``text_editor_code_execution``), and a forced
  ``tool_choice`` on it forces the first of them;
* every ``server_tool_use`` block in an assistant turn becomes a ``tool_use`` call, and
  its result block a ``tool_result`` in a user turn right after it, the assistant turn
  then going on in a new message (the shape every chat template knows);
* ``container_upload`` blocks become a note of where the file is in the sandbox;
* web search results show their title, URL and snippet (the snippet unsealed by ``reveal``
  from ``encrypted_content``), a fetched page or PDF its text.

The client's request itself is never changed: responses carry the real server-tool blocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter

from epistula.protocol.content import (
    BashCodeExecutionToolResultBlockParam,
    CodeExecutionToolResultBlockParam,
    ContainerUploadBlockParam,
    ContentBlock,
    ContentBlockParam,
    ServerToolUseBlockParam,
    TextBlockParam,
    TextEditorCodeExecutionToolResultBlockParam,
    ToolResultBlockParam,
    ToolSearchToolResultBlockParam,
    ToolUseBlockParam,
    WebFetchToolResultBlockParam,
    WebSearchToolResultBlockParam,
)
from epistula.protocol.messages import AssistantMessageParam, MessageParam, PromptParams, UserMessageParam
from epistula.protocol.tools import Tool, ToolChoice, ToolChoiceAny, ToolChoiceAuto, ToolChoiceTool, VersionedTool

from .web_documents import with_pdf_text

_RESULTS = (
    CodeExecutionToolResultBlockParam,
    BashCodeExecutionToolResultBlockParam,
    TextEditorCodeExecutionToolResultBlockParam,
    WebSearchToolResultBlockParam,
    WebFetchToolResultBlockParam,
    ToolSearchToolResultBlockParam,
)
_PARAM = TypeAdapter[Any](ContentBlockParam)
MODEL_RESULT_CHARS = 6000
"""The most of one result the model reads (its start and end); the client gets all of it."""
Reveal = Callable[[str], str | None]
"""A web search result's snippet from its ``encrypted_content`` (None: not sealed here)."""


def as_params(blocks: list[ContentBlock]) -> list[Any]:
    """Response blocks as the request blocks a client would echo back."""
    return [_PARAM.validate_python(block.model_dump()) for block in blocks]


def result_text(content: Any, reveal: Reveal | None = None) -> str:
    """What a server-tool result says to the model (a long one cut in the middle)."""
    text = _search_text(content, reveal) if isinstance(content, list) else _result_text(content)
    if len(text) <= MODEL_RESULT_CHARS:
        return text
    half = MODEL_RESULT_CHARS // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"


def _search_text(results: list[Any], reveal: Reveal | None) -> str:
    if not results:
        return "No results."
    parts = []
    for n, item in enumerate(results, 1):
        lines = [f"{n}. {item.get('title', '')}", f"URL: {item.get('url', '')}"]
        if item.get("page_age"):
            lines.append(f"Page age: {item['page_age']}")
        snippet = reveal(str(item.get("encrypted_content", ""))) if reveal is not None else None
        if snippet:
            lines.append(snippet)
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _fetch_text(content: dict[str, Any]) -> str:
    document = content.get("content") or {}
    source = document.get("source") or {}
    head = f"Fetched {content.get('url')}" + (f" ({document['title']})" if document.get("title") else "")
    if source.get("type") == "text":
        return f"{head}:\n{source.get('data', '')}"
    return f"{head}: a PDF document of {len(str(source.get('data', ''))) * 3 // 4} bytes (its text could not be read)."


def _result_text(content: Any) -> str:
    if not isinstance(content, dict):
        return json.dumps(content, ensure_ascii=False)
    kind = str(content.get("type", ""))
    if kind == "web_fetch_result":
        return _fetch_text(content)
    if "error_code" in content:
        message = content.get("error_message")
        return f"Error: {content['error_code']}" + (f": {message}" if message else "")
    if "return_code" in content:
        lines = []
        if content.get("stdout"):
            lines.append(str(content["stdout"]).rstrip("\n"))
        if content.get("stderr"):
            lines.append("stderr:\n" + str(content["stderr"]).rstrip("\n"))
        lines.append(f"return code: {content['return_code']}")
        files = [str(item.get("file_id")) for item in content.get("content") or [] if isinstance(item, dict)]
        if files:
            lines.append("files written: " + ", ".join(files))
        return "\n".join(lines)
    if kind.endswith("_view_result"):
        return str(content.get("content", ""))
    if kind.endswith("_create_result"):
        return "File updated." if content.get("is_file_update") else "File created."
    if kind.endswith("_str_replace_result"):
        return "Edited."
    return json.dumps(content, ensure_ascii=False)


def _split(message: MessageParam, reveal: Reveal | None) -> list[MessageParam]:
    """An assistant turn with server-tool blocks as alternating call and result messages."""
    if not isinstance(message, AssistantMessageParam) or isinstance(message.content, str):
        return [message]
    if not any(isinstance(b, (ServerToolUseBlockParam, *_RESULTS)) for b in message.content):
        return [message]
    out: list[MessageParam] = []
    calls: list[Any] = []
    results: list[Any] = []
    for block in message.content:
        if isinstance(block, _RESULTS):
            results.append(
                ToolResultBlockParam(
                    type="tool_result",
                    tool_use_id=block.tool_use_id,
                    content=result_text(block.model_dump()["content"], reveal),
                )
                if "content" in block.model_dump()
                else ToolResultBlockParam(type="tool_result", tool_use_id=block.tool_use_id, content="")
            )
            continue
        if results:
            out += [
                AssistantMessageParam(role="assistant", content=calls),
                UserMessageParam(role="user", content=results),
            ]
            calls, results = [], []
        if isinstance(block, ServerToolUseBlockParam):
            block = ToolUseBlockParam(type="tool_use", id=block.id, name=block.name, input=block.input)
        calls.append(block)
    if calls:
        out.append(AssistantMessageParam(role="assistant", content=calls))
    if results:
        out.append(UserMessageParam(role="user", content=results))
    return out


def _uploads_noted(message: MessageParam, uploads: dict[str, str]) -> MessageParam:
    if not isinstance(message, UserMessageParam) or isinstance(message.content, str):
        return message
    if not any(isinstance(b, ContainerUploadBlockParam) for b in message.content):
        return message
    blocks = [
        TextBlockParam(
            type="text", text=f"[The file {uploads.get(b.file_id, b.file_id)} is in the code-execution container.]"
        )
        if isinstance(b, ContainerUploadBlockParam)
        else b
        for b in message.content
    ]
    return message.model_copy(update={"content": blocks})


def conversation(
    params: PromptParams,
    turn: list[ContentBlock],
    uploads: dict[str, str],
    reveal: Reveal | None = None,
    pdf_texts: Mapping[str, tuple[str, ...]] | None = None,
) -> list[MessageParam]:
    """The messages with this response's blocks so far appended (to the client's
    prefill, when it sent one), server blocks split out, uploads noted, and fetched PDFs
    as their text (``pdf_texts``)."""
    out: list[MessageParam] = []
    for message in with_pdf_text(with_turn(params, turn), pdf_texts or {}):
        for part in _split(_uploads_noted(message, uploads), reveal):
            if out and isinstance(part, UserMessageParam) and isinstance(out[-1], UserMessageParam):
                merged = _blocks(out[-1].content) + _blocks(part.content)
                out[-1] = UserMessageParam(role="user", content=merged)
            elif part.content != []:
                out.append(part)
    return out


def with_turn(params: PromptParams, turn: list[ContentBlock]) -> list[MessageParam]:
    """The client's messages with this response's blocks so far appended (to its prefill,
    when it sent one)."""
    messages = list(params.messages)
    if turn:
        if messages and isinstance(messages[-1], AssistantMessageParam):
            last = messages.pop()
            head = [TextBlockParam(type="text", text=last.content)] if isinstance(last.content, str) else last.content
            messages.append(AssistantMessageParam(role="assistant", content=[*head, *as_params(turn)]))
        else:
            messages.append(AssistantMessageParam(role="assistant", content=as_params(turn)))
    return messages


def _blocks(content: str | list[Any]) -> list[Any]:
    return [TextBlockParam(type="text", text=content)] if isinstance(content, str) else list(content)


def tool_choice(
    choice: ToolChoice | None, forced: dict[str, str], *, first: bool, last_role: str | None
) -> ToolChoice | None:
    """``forced``: a server tool definition's name -> the model-facing tool it forces.
    Only the first step of a new turn is forced: after a result the model goes on freely."""
    continuing = not first or last_role == "assistant"
    if isinstance(choice, ToolChoiceTool | ToolChoiceAny) and continuing:
        return ToolChoiceAuto(type="auto", disable_parallel_tool_use=choice.disable_parallel_tool_use)
    if isinstance(choice, ToolChoiceTool) and choice.name in forced:
        return ToolChoiceTool(
            type="tool", name=forced[choice.name], disable_parallel_tool_use=choice.disable_parallel_tool_use
        )
    return choice


def model_tools(tools: list[Any], served: dict[str, list[Tool]]) -> list[Any]:
    """``tools`` with each served server-tool definition replaced by its model-facing tools."""
    out: list[Any] = []
    for tool in tools:
        if isinstance(tool, VersionedTool) and tool.type in served:
            out += served[tool.type]
        else:
            out.append(tool)
    return out
