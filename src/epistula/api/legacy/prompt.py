"""A ``\\n\\nHuman:``/``\\n\\nAssistant:`` prompt as a Messages conversation.

The real API lightly sanitises a prompt (trailing whitespace; a missing ``\\n\\n`` before
the first ``Human:``) and then requires the first turn to be ``Human`` (an optional system
text may precede it) and the last to be ``Assistant``; whatever follows that last marker
is an assistant prefill the completion continues. A marker counts only with its two
newlines, so ``"...\\nAssistant:"`` is part of the human turn, as on the real API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from epistula.api.legacy.protocol import CompletionCreateParams
from epistula.errors import InvalidRequestError
from epistula.protocol.messages import AssistantMessageParam, MessageCreateParams, MessageParam, UserMessageParam

HUMAN_PROMPT = "\n\nHuman:"
AI_PROMPT = "\n\nAssistant:"
_MARKER = re.compile(r"\n\n(Human|Assistant):")

START_ERROR = 'prompt must start with "\\n\\nHuman:" turn after an optional system prompt'
END_ERROR = 'prompt must end with "\\n\\nAssistant:" turn'

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class Conversation:
    system: str
    turns: tuple[tuple[Role, str], ...]
    """Every turn but the final assistant one, in order (consecutive roles may repeat)."""
    prefill: str
    """The text after the final ``\\n\\nAssistant:`` marker ("" when there is none)."""


def parse_prompt(prompt: str) -> Conversation:
    text = prompt.rstrip()
    if text.startswith("Human:"):
        text = "\n\n" + text
    pieces = _MARKER.split(text)
    system, roles, bodies = pieces[0], pieces[1::2], pieces[2::2]
    if not roles or roles[0] != "Human":
        raise InvalidRequestError(START_ERROR)
    if roles[-1] != "Assistant":
        raise InvalidRequestError(END_ERROR)
    turns: list[tuple[Role, str]] = []
    for role, body in zip(roles[:-1], bodies[:-1], strict=True):
        content = body.strip()
        if role == "Human" and not content:
            raise InvalidRequestError('prompt: a "\\n\\nHuman:" turn must not be empty')
        if content:  # an empty assistant turn in the middle adds nothing
            turns.append(("user" if role == "Human" else "assistant", content))
    return Conversation(system=system.strip(), turns=tuple(turns), prefill=bodies[-1].lstrip())


def message_params(params: CompletionCreateParams, conversation: Conversation) -> MessageCreateParams:
    """The equivalent Messages request; ``\\n\\nHuman:`` is always a stop sequence (the model
    writing the next human turn is how a completion ends in this format)."""
    messages: list[MessageParam] = [
        UserMessageParam(role="user", content=content)
        if role == "user"
        else AssistantMessageParam(role="assistant", content=content)
        for role, content in conversation.turns
    ]
    if conversation.prefill:
        messages.append(AssistantMessageParam(role="assistant", content=conversation.prefill))
    stops = [*(params.stop_sequences or []), HUMAN_PROMPT]
    return MessageCreateParams(
        model=params.model,
        messages=messages,
        system=conversation.system or None,
        max_tokens=params.max_tokens_to_sample,
        stop_sequences=list(dict.fromkeys(stops)),
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k,
        metadata=params.metadata,
        stream=params.stream,
    )
