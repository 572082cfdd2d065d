"""``context_management`` edits, applied to the conversation before it is rendered.

* ``clear_thinking_20251015`` drops the thinking blocks of older assistant turns, keeping
  the newest ``keep`` thinking turns (default 1; ``"all"`` keeps every one).
* ``clear_tool_uses_20250919`` replaces the results of older tool uses with a short
  placeholder once ``trigger`` is reached (default: the prompt exceeds 100,000 input
  tokens or the model's context window, whichever is smaller), keeping the newest
  ``keep`` tool uses (default 3), never those of ``exclude_tools``; ``clear_tool_inputs``
  also empties the calls' inputs (all of them, or those of the named tools), and
  ``clear_at_least`` skips the edit unless it frees at least that many input tokens.

Each edit reports what it did (``cleared_thinking_turns`` / ``cleared_tool_uses`` and
``cleared_input_tokens``, measured with the model's tokenizer) for the response's
``context_management.applied_edits``. Edit types epistula does not know are skipped
(and logged) by :mod:`epistula.generation.compat`; a known edit with a malformed option
is a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import ValidationError

from epistula.errors import InvalidRequestError
from epistula.protocol.content import (
    RedactedThinkingBlockParam,
    ThinkingBlockParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)
from epistula.protocol.messages import (
    AssistantMessageParam,
    ClearThinkingApplied,
    ClearThinkingEdit,
    ClearToolUsesApplied,
    ClearToolUsesEdit,
    PromptParams,
    ThinkingTurnsValue,
    UserMessageParam,
)

from . import compat
from .validation import format_validation_error

Count = Callable[[PromptParams], int]
"""Input tokens of a conversation as the model would be prompted with it."""
Applied = ClearToolUsesApplied | ClearThinkingApplied

DEFAULT_TRIGGER_TOKENS = 100_000
DEFAULT_KEEP_TOOL_USES = 3
DEFAULT_KEEP_THINKING_TURNS = 1
CLEARED_RESULT = "[tool result cleared to save context]"


@dataclass(slots=True)
class EditedPrompt:
    params: PromptParams
    applied: list[Applied] = field(default_factory=list)
    requested: bool = False
    """The request carried ``context_management`` (so the response reports it)."""


def parse_edits(params: PromptParams) -> list[ClearToolUsesEdit | ClearThinkingEdit]:
    edits: list[ClearToolUsesEdit | ClearThinkingEdit] = []
    for i, raw in compat.known_edits(params):
        model = ClearToolUsesEdit if raw.get("type") == "clear_tool_uses_20250919" else ClearThinkingEdit
        try:
            edits.append(model.model_validate(raw, strict=True))
        except ValidationError as exc:
            raise InvalidRequestError(f"context_management.edits.{i}.{format_validation_error(exc)}") from exc
    return edits


def _copy_messages(params: PromptParams) -> list[Any]:
    return [m.model_copy(update={"content": list(m.content)}) if isinstance(m.content, list) else m
            for m in params.messages]  # fmt: skip


def clear_thinking(params: PromptParams, edit: ClearThinkingEdit) -> tuple[PromptParams, int]:
    """The conversation without the thinking blocks of all but the newest ``keep`` thinking turns."""
    keep = edit.keep
    if keep == "all" or (keep is not None and not isinstance(keep, ThinkingTurnsValue)):
        return params, 0
    kept = keep.value if keep is not None else DEFAULT_KEEP_THINKING_TURNS
    thinking = (ThinkingBlockParam, RedactedThinkingBlockParam)
    turns = [
        i for i, m in enumerate(params.messages)
        if isinstance(m, AssistantMessageParam) and isinstance(m.content, list)
        and any(isinstance(b, thinking) for b in m.content)
    ]  # fmt: skip
    cleared = turns[: max(len(turns) - kept, 0)]
    if not cleared:
        return params, 0
    messages = _copy_messages(params)
    for i in cleared:
        messages[i].content = [b for b in messages[i].content if not isinstance(b, thinking)]
    return params.model_copy(update={"messages": messages}), len(cleared)


def _tool_uses(params: PromptParams) -> list[tuple[int, int, ToolUseBlockParam]]:
    return [
        (i, j, b) for i, m in enumerate(params.messages) if isinstance(m, AssistantMessageParam)
        and isinstance(m.content, list) for j, b in enumerate(m.content) if isinstance(b, ToolUseBlockParam)
    ]  # fmt: skip


def clear_tool_uses(params: PromptParams, edit: ClearToolUsesEdit) -> tuple[PromptParams, int]:
    """The conversation with all but the newest ``keep`` tool results replaced (trigger not checked here)."""
    kept = edit.keep.value if edit.keep is not None else DEFAULT_KEEP_TOOL_USES
    excluded = set(edit.exclude_tools or ())
    uses = [u for u in _tool_uses(params) if u[2].name not in excluded]
    cleared = uses[: max(len(uses) - kept, 0)]
    if not cleared:
        return params, 0
    ids = {u[2].id for u in cleared}
    inputs = edit.clear_tool_inputs
    messages = _copy_messages(params)
    for i, j, use in cleared:
        if inputs is True or (isinstance(inputs, list) and use.name in inputs):
            messages[i].content[j] = use.model_copy(update={"input": {}})
    for message in messages:
        if isinstance(message, UserMessageParam) and isinstance(message.content, list):
            message.content = [
                b.model_copy(update={"content": CLEARED_RESULT})
                if isinstance(b, ToolResultBlockParam) and b.tool_use_id in ids else b
                for b in message.content
            ]  # fmt: skip
    return params.model_copy(update={"messages": messages}), len(cleared)


def _triggered(params: PromptParams, edit: ClearToolUsesEdit, tokens: Callable[[], int], window: int) -> bool:
    trigger = edit.trigger
    if trigger is not None and trigger.type == "tool_uses":
        return len(_tool_uses(params)) > trigger.value
    limit = trigger.value if trigger is not None else min(DEFAULT_TRIGGER_TOKENS, window)
    return tokens() > limit


def apply_edits(params: PromptParams, count: Count, *, window: int) -> EditedPrompt:
    """Apply the request's edits in order; ``count`` is only called when an edit needs it."""
    result = EditedPrompt(params=params, requested=params.context_management is not None)
    sizes: list[tuple[PromptParams, int]] = []  # by identity; holds the objects, so ids stay unique

    def size(p: PromptParams) -> int:
        for seen, n in sizes:
            if seen is p:
                return n
        sizes.append((p, count(p)))
        return sizes[-1][1]

    for edit in parse_edits(params):
        before = result.params
        if isinstance(edit, ClearThinkingEdit):
            after, turns = clear_thinking(before, edit)
            if turns:
                freed = size(before) - size(after)
                result.applied.append(ClearThinkingApplied(cleared_thinking_turns=turns, cleared_input_tokens=freed))
                result.params = after
            continue
        if not _triggered(before, edit, partial(size, before), window):
            continue
        after, uses = clear_tool_uses(before, edit)
        if not uses:
            continue
        freed = size(before) - size(after)
        if edit.clear_at_least is not None and freed < edit.clear_at_least.value:
            continue
        result.applied.append(ClearToolUsesApplied(cleared_tool_uses=uses, cleared_input_tokens=freed))
        result.params = after
    return result
