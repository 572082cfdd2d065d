"""Checks that types alone cannot express, with the real API's messages.

Pydantic validation errors are converted into the Anthropic message format
(``<dotted.path>: <reason>``) by :func:`format_validation_error`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import ValidationError

from epistula.citations.sources import citations_enabled, iter_documents
from epistula.constraints.tools import check_tool_schemas
from epistula.errors import InvalidRequestError
from epistula.generation.image_limits import check_count, check_dimensions
from epistula.generation.stops import MAX_STOP_SEQUENCE_CHARS, MAX_STOP_SEQUENCES
from epistula.prompting import builtin_tools as tools_builtin
from epistula.prompting.images import image_blocks
from epistula.protocol.content import (
    Base64ImageSource,
    DocumentBlockParam,
    ImageBlockParam,
    RedactedThinkingBlockParam,
    TextBlockParam,
    ThinkingBlockParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    URLImageSource,
)
from epistula.protocol.messages import (
    AssistantMessageParam,
    MessageCreateParams,
    PromptParams,
    SystemMessageParam,
    ThinkingConfigEnabled,
    UserMessageParam,
)
from epistula.protocol.tools import ToolChoiceAny, ToolChoiceTool, VersionedTool

API_VERSIONS = ("2023-06-01", "2026-10-21", "2023-01-01")
SAMPLING_FIELDS = ("temperature", "top_p", "top_k")
MAX_CACHE_BREAKPOINTS = 4
MAX_IMAGE_BASE64_BYTES = 5 * 1024 * 1024
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


_ROLES = ("user", "assistant", "system")


def _clean_loc(loc: tuple[int | str, ...]) -> str:
    """Drop pydantic's union-member markers (``str``, ``list[...]``, ``function-...``)."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        text = str(item)
        if isinstance(item, str) and ("[" in text or text in ("str", "int", "bool", "float")):
            continue
        # The real API does not name a message's role: ``messages.3.content...``.
        if i >= 2 and loc[i - 2] == "messages" and isinstance(loc[i - 1], int) and text in _ROLES:
            continue
        parts.append(text)
        # ``cache_control`` is a union tagged by ``type`` on the real API.
        if text == "cache_control" and i + 1 < len(loc) and loc[i + 1] != "ephemeral":
            parts.append("ephemeral")
    return ".".join(parts)


def _is_type_mismatch_of_union_member(err: Any) -> bool:
    return any(isinstance(p, str) and ("[" in p or p == "str") for p in err["loc"])


def format_validation_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    # For `str | list[...]` fields pydantic reports one error per union member; keep
    # the member whose shape matches the input (the one that failed deeper).
    best = max(errors, key=lambda e: (len(e["loc"]), not e["type"].endswith("_type")))
    if not _is_type_mismatch_of_union_member(best):
        best = errors[0]
    message = best["msg"]
    if best["type"] == "missing":
        message = "Field required"
    path = _clean_loc(tuple(best["loc"]))
    return f"{path}: {message}" if path else message


def check_version(version: str | None) -> str:
    if version is None:
        raise InvalidRequestError("anthropic-version: header is required")
    if version not in API_VERSIONS:
        raise InvalidRequestError(f'anthropic-version: "{version}" is not a valid version')
    return version


def check_version_rules(raw: dict[str, Any], version: str) -> None:
    """The breaking request changes of API version 2026-10-21."""
    if version != "2026-10-21":
        return
    for name in SAMPLING_FIELDS:
        if name in raw:
            raise InvalidRequestError(f"{name}: Extra inputs are not permitted")


def _check_text_blocks(content: list[Any], where: str) -> None:
    texts = [b for b in content if isinstance(b, TextBlockParam)]
    if any(b.text == "" for b in texts):
        raise InvalidRequestError(f"{where}: text content blocks must be non-empty")
    if len(content) == 1 and texts and not texts[0].text.strip():
        raise InvalidRequestError(f"{where}: text content blocks must contain non-whitespace text")


def _check_system(params: PromptParams) -> None:
    system = params.system
    if isinstance(system, str):
        if system and not system.strip():
            raise InvalidRequestError("system: text content blocks must contain non-whitespace text")
    elif system is not None:
        _check_text_blocks(list(system), "system")


def _check_tool_pairing(params: PromptParams) -> None:
    pending: list[str] = []
    pending_at = 0
    for i, message in enumerate(params.messages):
        if isinstance(message, SystemMessageParam):
            continue
        blocks = [] if isinstance(message.content, str) else message.content
        if isinstance(message, UserMessageParam):
            results = {b.tool_use_id for b in blocks if isinstance(b, ToolResultBlockParam)}
            for j, block in enumerate(blocks):
                if isinstance(block, ToolResultBlockParam) and block.tool_use_id not in pending:
                    raise InvalidRequestError(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block.tool_use_id}. Each `tool_result` block "
                        "must have a corresponding `tool_use` block in the previous message."
                    )
            missing = [t for t in pending if t not in results]
            if missing:
                raise InvalidRequestError(
                    f"messages.{pending_at}: `tool_use` ids were found without `tool_result` "
                    f"blocks immediately after: {', '.join(missing)}. Each `tool_use` block must "
                    "have a corresponding `tool_result` block in the next message."
                )
            pending = []
        else:
            pending = [b.id for b in blocks if isinstance(b, ToolUseBlockParam)]
            pending_at = i


def _count_cache_breakpoints(params: PromptParams) -> int:
    count = 0
    for tool in params.tools or []:
        count += tool.cache_control is not None
    if isinstance(params.system, list):
        count += sum(b.cache_control is not None for b in params.system)
    for message in params.messages:
        if isinstance(message.content, list):
            for block in message.content:
                count += getattr(block, "cache_control", None) is not None
    return count


def sniff_image(data: bytes) -> str | None:
    """The image type that ``data`` starts like (PNG, JPEG, GIF, WebP), if any."""
    for magic, media_type in _IMAGE_MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _check_image(block: ImageBlockParam, where: str) -> None:
    """Image sources as the real API checks them (size, base64, media type, URL scheme);
    whether the model can see at all is :func:`check_supported`'s business."""
    source = block.source
    if isinstance(source, Base64ImageSource):
        if len(source.data) > MAX_IMAGE_BASE64_BYTES:
            raise InvalidRequestError(
                f"{where}.source.base64: image exceeds 5 MB maximum: {len(source.data)} bytes > "
                f"{MAX_IMAGE_BASE64_BYTES} bytes"
            )
        try:
            data = base64.b64decode(source.data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(f"{where}.source.base64.data: invalid base64 data") from None
        actual = sniff_image(data)
        if actual is None:
            raise InvalidRequestError(f"{where}.source.base64.data: Could not process image")
        if actual != source.media_type:
            raise InvalidRequestError(
                f"{where}.source.base64.data: The image was specified using the {source.media_type} media "
                f"type, but the image appears to be a {actual} image"
            )
    elif isinstance(source, URLImageSource) and not source.url.startswith(("https://", "http://")):
        raise InvalidRequestError(f"{where}.source.url: only http and https image URLs are supported")


def check_messages(params: PromptParams) -> None:
    """Semantic rules shared by message creation and token counting."""
    if not params.messages:
        raise InvalidRequestError("messages: at least one message is required")
    if isinstance(params.messages[0], SystemMessageParam):
        raise InvalidRequestError(
            "messages.0: a system message cannot be the first message; use the top-level `system` parameter"
        )
    _check_system(params)
    for i, message in enumerate(params.messages):
        content = message.content
        if isinstance(message, UserMessageParam) and (content == "" or content == []):
            raise InvalidRequestError(f"messages.{i}: user messages must have non-empty content")
        if isinstance(content, list):
            _check_text_blocks(list(content), "messages")
            if not isinstance(message, AssistantMessageParam):
                for j, block in enumerate(content):
                    if isinstance(block, (ThinkingBlockParam, RedactedThinkingBlockParam)):
                        raise InvalidRequestError(
                            f"messages.{i}.content.{j}: `{block.type}` blocks are only allowed in assistant messages"
                        )
        elif isinstance(message, SystemMessageParam) and not content.strip():
            raise InvalidRequestError(f"messages.{i}: text content blocks must contain non-whitespace text")
    last = params.messages[-1]
    if isinstance(last, AssistantMessageParam):
        text = (
            last.content
            if isinstance(last.content, str)
            else "".join(b.text for b in last.content if isinstance(b, TextBlockParam))
        )
        if text and text != text.rstrip():
            raise InvalidRequestError("messages: final assistant content cannot end with trailing whitespace")
    _check_tool_pairing(params)
    images = list(image_blocks(params, pages=False))  # PDF pages have their own budget
    check_count(len(images))
    for where, image in images:
        _check_image(image, where)
    breakpoints = _count_cache_breakpoints(params)
    if breakpoints > MAX_CACHE_BREAKPOINTS:
        raise InvalidRequestError(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}."
        )
    forced = isinstance(params.tool_choice, (ToolChoiceAny, ToolChoiceTool))
    if forced and params.thinking is not None and params.thinking.type in ("enabled", "adaptive"):
        raise InvalidRequestError("Thinking may not be enabled when tool_choice forces tool use.")


def _check_stop_sequences(stops: list[str]) -> None:
    if len(stops) > MAX_STOP_SEQUENCES:
        raise InvalidRequestError(f"stop_sequences: at most {MAX_STOP_SEQUENCES} stop sequences are allowed")
    for j, seq in enumerate(stops):
        if seq == "":
            raise InvalidRequestError(f"stop_sequences.{j}: stop sequences must be non-empty")
        if len(seq) > MAX_STOP_SEQUENCE_CHARS:
            raise InvalidRequestError(
                f"stop_sequences.{j}: a stop sequence may be at most {MAX_STOP_SEQUENCE_CHARS} characters long"
            )


def check_create(params: MessageCreateParams, *, model_id: str, max_output_tokens: int, version: str) -> None:
    check_messages(params)
    if params.max_tokens < 0:
        raise InvalidRequestError("max_tokens: Input should be greater than or equal to 0")
    if params.max_tokens > max_output_tokens:
        raise InvalidRequestError(
            f"max_tokens: {params.max_tokens} > {max_output_tokens}, which is the maximum allowed "
            f"number of output tokens for {model_id}"
        )
    if isinstance(params.thinking, ThinkingConfigEnabled) and params.thinking.budget_tokens >= params.max_tokens:
        raise InvalidRequestError(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
        )
    _check_stop_sequences(params.stop_sequences or [])
    if params.container is not None:
        # Not presentation: a container runs code execution and Agent Skills, which epistula does
        # not have (README's "Accepted and ignored fields" lists the fields that are only tolerated).
        raise InvalidRequestError("container: code-execution containers and Agent Skills are not supported by epistula")
    _check_citations(params)
    if version == "2026-10-21":
        for i, message in enumerate(params.messages):
            if isinstance(message, AssistantMessageParam) and isinstance(message.content, list):
                for j, block in enumerate(message.content):
                    if isinstance(block, DocumentBlockParam):
                        raise InvalidRequestError(
                            f"messages.{i}.content.{j}: `document` blocks are not allowed in assistant messages"
                        )
            if isinstance(message, UserMessageParam) and isinstance(message.content, list):
                for j, block in enumerate(message.content):
                    if isinstance(block, TextBlockParam) and block.citations:
                        raise InvalidRequestError(
                            f"messages.{i}.content.{j}.text.citations: citations are not allowed in user messages"
                        )


def _check_citations(params: MessageCreateParams) -> None:
    """Citations are enabled on all documents or on none, and never with structured
    outputs (cited text is split into several text blocks; a JSON reply is one)."""
    enabled = [citations_enabled(d) for d in iter_documents(params)]
    if any(enabled) and not all(enabled):
        raise InvalidRequestError("Citations must be enabled on all or none of the documents in a request.")
    fmt = params.output_config.format if params.output_config else None
    if any(enabled) and (fmt is not None or params.output_format is not None):
        field = "output_config.format" if fmt is not None else "output_format"
        raise InvalidRequestError(
            f"{field}: structured outputs cannot be used with citations; disable citations on the documents "
            "or remove the output format"
        )


def _check_schemas(params: PromptParams) -> None:
    """Tool input schemas and the output format's schema within the grammar budgets
    (on every engine, so a request's validity does not depend on the model serving it)."""
    fmt = params.output_config.format if params.output_config else None
    path = "output_config.format.schema" if fmt is not None else "output_format.schema"
    fmt = fmt or params.output_format
    check_tool_schemas(list(params.tools or []), dict(fmt.schema_) if fmt is not None else None, path)


def check_supported(params: PromptParams, *, model_id: str, vision: bool = False) -> None:
    """Features that epistula (or this model) cannot serve yet get a clear 400, never silence;
    ``vision``: the model reads images (it has a projector)."""
    if params.thread is not None:
        raise InvalidRequestError(
            "thread: message threads are not supported by epistula; send the full history",
            details={"error_code": "thread_unsupported_request", "unsupported": ["thread"]},
        )
    for name in ("compaction", "fallbacks", "fallback_credit_token", "billing_policy"):
        if getattr(params, name) is not None:
            raise InvalidRequestError(f"{name}: this beta feature is not supported by epistula")
    names: set[str] = set()
    for i, tool in enumerate(params.tools or []):
        if isinstance(tool, VersionedTool):
            tools_builtin.check_tool(i, tool)  # client tools pass (name checked); server tools get a 400
        if tool.name in names:
            raise InvalidRequestError(f"tools: Tool names must be unique. Duplicate name: `{tool.name}`")
        names.add(str(tool.name))
    _check_schemas(params)
    if params.mcp_servers:
        raise InvalidRequestError("mcp_servers: the MCP connector is not supported by epistula")
    for where, image in image_blocks(params):
        if not vision:
            raise InvalidRequestError(
                f"{where}: model `{model_id}` does not support images (it is a text-only model and cannot see them)"
            )
        if isinstance(image.source, URLImageSource):
            raise InvalidRequestError(
                f"{where}.source: this server does not fetch image URLs (its operator can turn on "
                "`url_sources`); send the image as base64 or upload it with the Files API and use a `file` source"
            )
        if isinstance(image.source, Base64ImageSource):  # the model will read it: its size first
            data = base64.b64decode(image.source.data)
            check_dimensions(data, image.source.media_type, f"{where}.source.base64.data")
    for i, message in enumerate(params.messages):
        if isinstance(message.content, str):
            continue
        for j, block in enumerate(message.content):
            blocks: list[Any] = [block]
            if isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
                blocks = list(block.content)
            for inner in blocks:
                if isinstance(inner, DocumentBlockParam) and inner.source.type == "url":
                    raise InvalidRequestError(
                        f"messages.{i}.content.{j}.document.source: this server does not fetch document URLs "
                        "(its operator can turn on `url_sources`); send the PDF as base64 or a `file` source"
                    )
                if isinstance(inner, DocumentBlockParam) and inner.source.type not in ("text", "content"):
                    raise InvalidRequestError(
                        f"messages.{i}.content.{j}.document.source: `{inner.source.type}` document "
                        "sources are not supported by epistula yet (plain-text and content sources are)"
                    )
