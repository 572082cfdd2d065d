"""A finished ``Message`` as an OpenAI ``ChatCompletion``, and the mappings the stream shares.

``finish_reason``: ``stop`` for a natural end or a stop sequence, ``length`` for a token
limit (``max_tokens`` or the context window), ``tool_calls`` for tool use. Usage:
``prompt_tokens`` is every input token (cached ones included), ``completion_tokens`` the
output tokens. Thinking is not returned, as on the Claude API's OpenAI layer.
"""

from __future__ import annotations

import json
import time

from epistula import ids
from epistula.api.openai.protocol import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    Choice,
    CompletionUsage,
    FinishReason,
    Function,
)
from epistula.protocol.content import TextBlock, ToolUseBlock
from epistula.protocol.messages import Message, StopReason
from epistula.protocol.usage import Usage

_FINISH: dict[StopReason, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def completion_id() -> str:
    return ids.new_id("chatcmpl-")


def created_now() -> int:
    return int(time.time())


def finish_reason(reason: StopReason | None) -> FinishReason:
    return _FINISH.get(reason, "stop") if reason is not None else "stop"


def completion_usage(usage: Usage) -> CompletionUsage:
    prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    return CompletionUsage(
        prompt_tokens=prompt, completion_tokens=usage.output_tokens, total_tokens=prompt + usage.output_tokens
    )


def arguments_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def chat_completion(message: Message, *, id: str, created: int) -> ChatCompletion:
    text = "".join(block.text for block in message.content if isinstance(block, TextBlock))
    calls = [
        ChatCompletionMessageFunctionToolCall(
            id=block.id, function=Function(name=block.name, arguments=arguments_json(block.input))
        )
        for block in message.content
        if isinstance(block, ToolUseBlock)
    ]
    reply = ChatCompletionMessage(content=text or (None if calls else ""), tool_calls=calls or None)
    return ChatCompletion(
        id=id,
        created=created,
        model=message.model,
        choices=[Choice(message=reply, finish_reason=finish_reason(message.stop_reason))],
        usage=completion_usage(message.usage),
    )
