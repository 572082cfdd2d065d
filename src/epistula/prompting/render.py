"""Flatten an Anthropic conversation into the chat template's message list.

The rendering is a pure function of the request, and turn N+1 renders as a
strict extension of turn N (no hoisting of inline system messages, no key
reordering of tool arguments), so that prefix caching keeps working across turns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from epistula.files.service import ExtractedTextSource, pages_text
from epistula.prompting import compat
from epistula.protocol.content import (
    ContentBlockSource,
    DocumentBlockParam,
    ImageBlockParam,
    PlainTextSource,
    SearchResultBlockParam,
    TextBlockParam,
    ThinkingBlockParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)
from epistula.protocol.messages import (
    AssistantMessageParam,
    PromptParams,
)

from .images import image_marker
from .markup import ControlTokens, Span, markup_spans
from .template import ChatTemplate


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    text: str
    """The full prompt text handed to the tokenizer (ends with any prefill)."""
    prefill: str
    """The final assistant message the reply continues ("" when there is none)."""
    markup: tuple[Span, ...] | None = None
    """Where ``text`` holds the template's own control tokens; ``None`` when no other
    control-token text is in it (see :mod:`epistula.prompting.markup`)."""


def system_text(system: str | list[TextBlockParam] | None) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return compat.strip_billing_header(system)
    blocks = compat.drop_billing_header_blocks(system)
    return "\n\n".join(block.text for block in blocks)


def _document_text(block: DocumentBlockParam) -> str:
    source = block.source
    if isinstance(source, ExtractedTextSource) and source.pages is not None and source.page_images:
        body = pages_text(source.pages, [image_marker(image) for image in source.page_images])
    elif isinstance(source, PlainTextSource):
        body = source.data
    elif isinstance(source, ContentBlockSource):
        if isinstance(source.content, str):
            body = source.content
        else:
            body = "\n".join(
                b.text if isinstance(b, TextBlockParam) else image_marker(b)
                for b in source.content
                if isinstance(b, (TextBlockParam, ImageBlockParam))
            )
    else:  # pragma: no cover - rejected by validation.check_supported
        raise AssertionError(f"unsupported document source {source.type}")
    head = f'<document title="{block.title}">' if block.title else "<document>"
    context = f"\n<context>{block.context}</context>" if block.context else ""
    return f"{head}{context}\n{body}\n</document>"


def _search_result_text(block: SearchResultBlockParam) -> str:
    body = "\n".join(b.text for b in block.content)
    return f'<search_result source="{block.source}" title="{block.title}">\n{body}\n</search_result>'


def _material_text(block: object) -> str | None:
    """What a text, image, document or search-result block puts in the prompt (None: another block)."""
    if isinstance(block, TextBlockParam):
        return block.text
    if isinstance(block, ImageBlockParam):
        return image_marker(block)
    if isinstance(block, DocumentBlockParam):
        return _document_text(block)
    if isinstance(block, SearchResultBlockParam):
        return _search_result_text(block)
    return None


def _tool_result_text(block: ToolResultBlockParam) -> str:
    if block.content is None:
        body = ""
    elif isinstance(block.content, str):
        body = block.content
    else:
        parts: list[str] = []
        for item in block.content:
            if (text := _material_text(item)) is not None:
                parts.append(text)
            elif item.type == "tool_reference":
                parts.append(f"[tool {item.tool_name} is now available]")
        body = "\n".join(parts)
    status = ' is_error="true"' if block.is_error else ""
    return f"<tool_response{status}>\n{body}\n</tool_response>"


def _tool_use_text(block: ToolUseBlockParam) -> str:
    call = {"name": block.name, "arguments": block.input}
    return f"<tool_call>\n{json.dumps(call, ensure_ascii=False)}\n</tool_call>"


def content_text(content: str | list[Any], *, thinking: bool = False) -> str:
    """The text a content value contributes to the prompt; ``thinking``: echoed thinking
    blocks too, as the ``<think>`` sections epistula had the model write."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if thinking and isinstance(block, ThinkingBlockParam):
            parts.append(f"<think>\n{block.thinking}\n</think>" if block.thinking else "<think>\n</think>")
        elif (text := _material_text(block)) is not None:
            parts.append(text)
        elif isinstance(block, ToolResultBlockParam):
            parts.append(_tool_result_text(block))
        elif isinstance(block, ToolUseBlockParam):
            parts.append(_tool_use_text(block))
        # thinking / redacted_thinking / echoed server-tool blocks carry nothing
        # a non-reasoning local model can use; they are accepted and not rendered.
    return "\n".join(parts)


def template_messages(params: PromptParams, extra_system: str = "", *, thinking: bool = False) -> list[dict[str, Any]]:
    """The conversation as ``[{"role", "content"}]``; consecutive same-role turns merge.
    ``thinking``: assistant turns keep their thinking blocks (see :func:`content_text`)."""
    out: list[dict[str, Any]] = []
    system = "\n\n".join(p for p in (system_text(params.system), extra_system) if p)
    if system:
        out.append({"role": "system", "content": system})
    for message in params.messages:
        role = message.role
        text = content_text(message.content, thinking=thinking and role == "assistant")
        if out and out[-1]["role"] == role and role != "system":
            out[-1]["content"] += "\n\n" + text
        else:
            out.append({"role": role, "content": text})
    return out


def render_prompt(
    params: PromptParams,
    template: ChatTemplate,
    *,
    extra_system: str = "",
    tools: list[dict[str, Any]] | None = None,
    thinking: bool = False,
    controls: ControlTokens | None = None,
) -> RenderedPrompt:
    """``extra_system`` (our tool or output-format instructions) follows the system prompt;
    ``tools`` goes to templates that render tools themselves; ``thinking``: earlier thinking
    blocks are rendered (a model made to think sees its own sections, and each turn's
    prompt extends the previous one's, opened ``<think>`` included); ``controls`` are the
    model's control tokens, which only the template's markup may produce."""
    messages = template_messages(params, extra_system, thinking=thinking)
    prefill = ""
    last = params.messages[-1] if params.messages else None
    if isinstance(last, AssistantMessageParam) and messages and messages[-1]["role"] == "assistant":
        prefill = messages.pop()["content"]
    text = template.render(messages, add_generation_prompt=True, tools=tools)
    markup: tuple[Span, ...] | None = None
    if controls is not None and controls.found_in([messages, tools, prefill]):
        neutral = template.render(
            controls.neutralize(messages), add_generation_prompt=True, tools=controls.neutralize(tools)
        )
        markup = markup_spans(text, neutral, controls)
    return RenderedPrompt(text=text + prefill, prefill=prefill, markup=markup)
