"""An OpenAI ``ChatCompletionCreateParams`` as our ``MessageCreateParams``.

Follows the Claude API's own OpenAI layer: every ``system``/``developer`` message is
hoisted into one system prompt (joined with ``\\n``); ``temperature`` above 1 is clamped to
1; whitespace-only ``stop`` strings are dropped; ``n`` must be 1; tool calls, tool results
and the deprecated ``functions``/``function_call`` map onto ``tool_use``/``tool_result``
blocks (so the grammar that constrains tool arguments applies to OpenAI clients too).
``response_format`` (ignored by the Claude API) becomes a structured-output format here,
because a local model needs the grammar to keep to a schema at all.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import ValidationError

from epistula.api.openai.protocol import (
    ChatCompletionAllowedToolChoiceParam,
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartTextParam,
    ChatCompletionCreateParams,
    ChatCompletionCustomToolParam,
    ChatCompletionDeveloperMessageParam,
    ChatCompletionFunctionMessageParam,
    ChatCompletionNamedToolChoiceParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
    FunctionDefinition,
    FunctionName,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
)
from epistula.errors import InvalidRequestError
from epistula.generation.validation import format_validation_error
from epistula.protocol.content import (
    Base64ImageSource,
    ContentBlockParam,
    ImageBlockParam,
    TextBlockParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    URLImageSource,
)
from epistula.protocol.messages import (
    AssistantMessageParam,
    JSONOutputFormat,
    MessageCreateParams,
    MessageParam,
    OutputConfig,
    UserMessageParam,
)
from epistula.protocol.tools import (
    InputSchema,
    Tool,
    ToolChoice,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
)

_DATA_URI = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+)(?:;[^,]*)?;base64,(?P<data>.*)$", re.DOTALL)
Role = Literal["user", "assistant"]


def _text(content: str | list[ChatCompletionContentPartTextParam] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text for part in content)


def _text_block(text: str) -> list[ContentBlockParam]:
    return [TextBlockParam(type="text", text=text)] if text else []


def _image(part: ChatCompletionContentPartImageParam, where: str) -> ImageBlockParam:
    url = part.image_url.url
    match = _DATA_URI.match(url)
    if match is not None:
        media = match.group("media")
        if media not in ("image/jpeg", "image/png", "image/gif", "image/webp"):
            raise InvalidRequestError(
                f"{where}.image_url.url: unsupported image type {media}; use image/jpeg, image/png, image/gif "
                "or image/webp"
            )
        source: Base64ImageSource | URLImageSource = Base64ImageSource(
            type="base64", media_type=media, data=match.group("data")
        )
    elif url.startswith(("http://", "https://")):
        source = URLImageSource(type="url", url=url)
    else:
        raise InvalidRequestError(f"{where}.image_url.url: expected a base64 data: URI or an http(s) URL")
    return ImageBlockParam(type="image", source=source)


def _user_blocks(message: ChatCompletionUserMessageParam, where: str) -> list[ContentBlockParam]:
    if isinstance(message.content, str):
        return _text_block(message.content)
    blocks: list[ContentBlockParam] = []
    for j, part in enumerate(message.content):
        if isinstance(part, ChatCompletionContentPartTextParam):
            blocks += _text_block(part.text)
        elif isinstance(part, ChatCompletionContentPartImageParam):
            blocks.append(_image(part, f"{where}.content.{j}"))
        # input_audio and file parts are dropped, as on the Claude API.
    return blocks


def _arguments(raw: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"{where}.function.arguments: not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{where}.function.arguments: must be a JSON object")
    return value


def _tool_result(tool_use_id: str, text: str) -> ToolResultBlockParam:
    return ToolResultBlockParam(type="tool_result", tool_use_id=tool_use_id, content=text or None)


class _Conversation:
    """Turns collected in order; consecutive same-role turns merge into one message, so
    the results of parallel tool calls (one ``tool`` message each) land together right
    after the assistant turn that made the calls, as ``tool_result`` pairing requires."""

    def __init__(self) -> None:
        self.system: list[str] = []
        self.turns: list[tuple[Role, list[ContentBlockParam]]] = []
        self.function_calls: dict[str, list[str]] = {}
        """Ids given to deprecated ``function_call``s not yet answered, by function name."""

    def add(self, role: Role, blocks: list[ContentBlockParam]) -> None:
        if not blocks:
            return
        if self.turns and self.turns[-1][0] == role:
            self.turns[-1][1].extend(blocks)
        else:
            self.turns.append((role, blocks))

    def messages(self) -> list[MessageParam]:
        out: list[MessageParam] = []
        for role, blocks in self.turns:
            if role == "user":
                out.append(UserMessageParam(role="user", content=blocks))
            else:
                out.append(AssistantMessageParam(role="assistant", content=blocks))
        return out


def _conversation(params: ChatCompletionCreateParams) -> _Conversation:
    conv = _Conversation()
    for i, message in enumerate(params.messages):
        where = f"messages.{i}"
        if isinstance(message, (ChatCompletionSystemMessageParam, ChatCompletionDeveloperMessageParam)):
            if text := _text(message.content):
                conv.system.append(text)
        elif isinstance(message, ChatCompletionUserMessageParam):
            conv.add("user", _user_blocks(message, where))
        elif isinstance(message, ChatCompletionAssistantMessageParam):
            conv.add("assistant", _assistant_blocks(conv, message, where))
        elif isinstance(message, ChatCompletionToolMessageParam):
            conv.add("user", [_tool_result(message.tool_call_id, _text(message.content))])
        elif isinstance(message, ChatCompletionFunctionMessageParam):
            pending = conv.function_calls.get(message.name)
            if not pending:
                raise InvalidRequestError(
                    f"{where}: a `function` message must answer an earlier assistant `function_call` "
                    f"of `{message.name}`"
                )
            conv.add("user", [_tool_result(pending.pop(0), message.content or "")])
    return conv


def _assistant_blocks(
    conv: _Conversation, message: ChatCompletionAssistantMessageParam, where: str
) -> list[ContentBlockParam]:
    content = message.content
    text = (
        content
        if isinstance(content, str)
        else "".join(part.text for part in content or [] if isinstance(part, ChatCompletionContentPartTextParam))
    )
    blocks = _text_block(text)
    for j, call in enumerate(message.tool_calls or []):
        blocks.append(
            ToolUseBlockParam(
                type="tool_use",
                id=call.id,
                name=call.function.name,
                input=_arguments(call.function.arguments, f"{where}.tool_calls.{j}"),
            )
        )
    if message.function_call is not None:
        call_id = f"call_{where.replace('.', '_')}"
        conv.function_calls.setdefault(message.function_call.name, []).append(call_id)
        blocks.append(
            ToolUseBlockParam(
                type="tool_use",
                id=call_id,
                name=message.function_call.name,
                input=_arguments(message.function_call.arguments, f"{where}.function_call"),
            )
        )
    return blocks


def _tool(definition: FunctionDefinition, where: str) -> Tool:
    schema = definition.parameters or {"type": "object", "properties": {}}
    if schema.get("type") != "object":
        raise InvalidRequestError(f'{where}.parameters: must be a JSON Schema with "type": "object"')
    try:
        return Tool(
            name=definition.name,
            description=definition.description or "",
            input_schema=InputSchema.model_validate(schema),
        )
    except ValidationError as exc:
        raise InvalidRequestError(f"{where}.{format_validation_error(exc)}") from None


def _tools(params: ChatCompletionCreateParams) -> list[Tool]:
    tools: list[Tool] = []
    for i, tool in enumerate(params.tools or []):
        if isinstance(tool, ChatCompletionCustomToolParam):
            raise InvalidRequestError(f"tools.{i}.type: only `function` tools are supported")
        tools.append(_tool(tool.function, f"tools.{i}.function"))
    for i, definition in enumerate(params.functions or []):
        tools.append(_tool(definition, f"functions.{i}"))
    return tools


def _tool_choice(params: ChatCompletionCreateParams, tools: list[Tool]) -> ToolChoice | None:
    choice = params.tool_choice if params.tool_choice is not None else params.function_call
    single = params.parallel_tool_calls is False or None
    if choice == "none":
        return ToolChoiceNone(type="none")
    if not tools:
        return None
    if choice == "required":
        return ToolChoiceAny(type="any", disable_parallel_tool_use=single)
    if isinstance(choice, ChatCompletionNamedToolChoiceParam):
        return ToolChoiceTool(type="tool", name=choice.function.name, disable_parallel_tool_use=single)
    if isinstance(choice, FunctionName):
        return ToolChoiceTool(type="tool", name=choice.name, disable_parallel_tool_use=single)
    if isinstance(choice, ChatCompletionAllowedToolChoiceParam) and choice.allowed_tools.get("mode") == "required":
        return ToolChoiceAny(type="any", disable_parallel_tool_use=single)
    return ToolChoiceAuto(type="auto", disable_parallel_tool_use=single)


def _output_config(params: ChatCompletionCreateParams) -> OutputConfig | None:
    fmt = params.response_format
    if isinstance(fmt, ResponseFormatJSONSchema):
        schema = fmt.json_schema.schema_ or {"type": "object"}
    elif isinstance(fmt, ResponseFormatJSONObject):
        schema = {"type": "object"}
    else:
        return None
    return OutputConfig(format=JSONOutputFormat(type="json_schema", schema_=schema))


def _stops(stop: str | list[str] | None) -> list[str] | None:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    kept = [s for s in stops if s.strip()]
    return kept or None


def message_params(params: ChatCompletionCreateParams, *, default_max_tokens: int) -> MessageCreateParams:
    """``default_max_tokens`` applies when the request names neither ``max_completion_tokens``
    nor ``max_tokens`` (both optional in OpenAI's API)."""
    if params.n is not None and params.n != 1:
        raise InvalidRequestError("n: only n=1 is supported")
    conv = _conversation(params)
    tools = _tools(params)
    max_tokens = params.max_completion_tokens if params.max_completion_tokens is not None else params.max_tokens
    temperature = None if params.temperature is None else min(params.temperature, 1.0)
    return MessageCreateParams(
        model=params.model,
        messages=conv.messages(),
        system="\n".join(conv.system) or None,
        max_tokens=default_max_tokens if max_tokens is None else max_tokens,
        stop_sequences=_stops(params.stop),
        stream=params.stream,
        temperature=temperature,
        top_p=params.top_p,
        tools=tools or None,
        tool_choice=_tool_choice(params, tools),
        output_config=_output_config(params),
        thinking=params.thinking,
    )
