"""Token offsets of breakpoint prefixes in the rendered prompt.

The chat template decides where a block's text lands, so offsets are measured
rather than computed: the request is cut after the breakpoint's block and
rendered twice, once as it is and once with one more block after the cut. The
two renderings agree exactly up to the end of the block's own text (after that
come either the next block's separator or the turn's closing markup), which
makes the offset canonical: it does not depend on what follows the block, so the
next turn of a conversation, or a different question after the same documents,
finds the same prefix. That text is tokenized and compared with the full
prompt's tokens; the shared token prefix is the offset (a token that straddles
the boundary, e.g. merged whitespace, is left out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from epistula.engines.base import CachePoint, CacheTTL
from epistula.engines.prefix_store import common_prefix
from epistula.errors import InvalidRequestError
from epistula.prompting.breakpoints import BlockRef, find_breakpoints, lookback_ref, truncate
from epistula.protocol.content import TextBlockParam
from epistula.protocol.messages import PromptParams, UserMessageParam
from epistula.protocol.tools import InputSchema, Tool

Render = Callable[[PromptParams], str]
Tokenize = Callable[[str], Sequence[int]]

_PROBE = "\u2063"
"""Text of the extra block (an invisible separator, unlikely to be rendered specially)."""
_TURN = "\u2064"
"""Text of the user turn that follows a cut before the messages (another invisible
character, so that it and the probe differ from the first character on)."""


def _with_turn(cut: PromptParams, ref: BlockRef) -> PromptParams:
    """``cut``, with one user turn when the cut ends before the messages: templates with no
    system role (Gemma's) fold the system prompt into the first user turn, and render
    nothing of it without one."""
    if ref.section == "messages":
        return cut
    return cut.model_copy(update={"messages": [UserMessageParam(role="user", content=_TURN)]})


def _with_probe(cut: PromptParams, ref: BlockRef) -> PromptParams:
    """``cut`` with one more block right after ``ref``, in the same section and turn."""
    probe = TextBlockParam(type="text", text=_PROBE)
    if ref.section == "tools":
        tool = Tool(name="probe", description=_PROBE, input_schema=InputSchema(type="object"))
        return cut.model_copy(update={"tools": [*(cut.tools or []), tool]})
    if ref.section == "system":
        system = cut.system if isinstance(cut.system, list) else [TextBlockParam(type="text", text=cut.system or "")]
        return cut.model_copy(update={"system": [*system, probe]})
    last = cut.messages[-1]
    content = last.content if isinstance(last.content, list) else [TextBlockParam(type="text", text=last.content)]
    message = last.model_copy(update={"content": [*content, probe]})
    return cut.model_copy(update={"messages": [*cut.messages[:-1], message]})


class PrefixMeter:
    """Measures breakpoint offsets for one request against its rendered prompt."""

    def __init__(self, params: PromptParams, render: Render, tokenize: Tokenize, text: str, ids: Sequence[int]):
        self._params = params
        self._render = render
        self._tokenize = tokenize
        self._text = text
        self._ids = tuple(ids)
        self._memo: dict[BlockRef, int] = {}

    def offset(self, ref: BlockRef) -> int:
        """Tokens of the prompt that depend only on the blocks up to ``ref``."""
        if ref not in self._memo:
            self._memo[ref] = self._measure(ref)
        return self._memo[ref]

    def _measure(self, ref: BlockRef) -> int:
        cut = truncate(self._params, ref)
        try:
            plain = self._render(_with_turn(cut, ref))
            probed = self._render(_with_turn(_with_probe(cut, ref), ref))
        except InvalidRequestError:  # e.g. tool_choice names a tool past the cut
            return 0
        chars = min(common_prefix(plain, probed), common_prefix(plain, self._text))
        if chars <= 0:
            return 0
        return common_prefix(tuple(self._tokenize(self._text[:chars])), self._ids)

    def points(self) -> tuple[CachePoint, ...]:
        """The request's breakpoints as cache points, ascending and de-duplicated
        (``0 < offset < len(prompt)``: the last prompt token is always computed,
        its logits start the reply)."""
        merged: dict[int, tuple[CacheTTL, int]] = {}
        for bp in find_breakpoints(self._params):
            offset = min(self.offset(bp.ref), len(self._ids) - 1)
            if offset <= 0:
                continue
            back = lookback_ref(self._params, bp.position)
            lookback = min(self.offset(back), offset) if back is not None else 0
            ttl: CacheTTL = bp.ttl
            if offset in merged:
                old_ttl, old_lookback = merged[offset]
                ttl = "1h" if "1h" in (ttl, old_ttl) else "5m"
                lookback = min(lookback, old_lookback)
            merged[offset] = (ttl, lookback)
        return tuple(CachePoint(offset=o, ttl=t, lookback=lb) for o, (t, lb) in sorted(merged.items()))
