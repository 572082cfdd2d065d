"""Route generated text to content blocks: reasoning -> thinking blocks, tool-call
syntax -> tool_use blocks, the rest -> text blocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from epistula import ids
from epistula.constraints.tools import TRIGGER
from epistula.parsing.reasoning import AnswerPiece, ReasoningSplitter, ThinkingDone, ThinkingPiece
from epistula.parsing.toolcalls import TextPiece, ToolCall, ToolCallParser
from epistula.protocol.streaming import RawMessageStreamEvent

from .assembler import Assembler

ThinkingDisplay = Literal["summarized", "omitted", "hidden"]
"""``hidden``: the request did not ask for thinking, so the reasoning is not returned."""


class OutputRouter:
    def __init__(
        self,
        asm: Assembler,
        *,
        tool_names: tuple[str, ...] = (),
        server_tools: tuple[str, ...] = (),
        single_tool_call: bool = False,
        forced_tool: str | None = None,
        reasoning: bool = False,
        thinking_opened: bool = False,
        display: ThinkingDisplay = "hidden",
        sign: Callable[[str], str] | None = None,
    ) -> None:
        self._asm = asm
        self._tools = ToolCallParser(tool_names) if tool_names else None
        self._single = single_tool_call
        self._forced = forced_tool
        self._answered = False
        """Anything but whitespace went out (as text or a call)."""
        self._server = frozenset(server_tools)
        self._splitter = ReasoningSplitter(started_inside=thinking_opened) if reasoning else None
        self._display = display
        self._sign = sign or (lambda text: "")
        self.done_calling = False

    @property
    def in_thinking(self) -> bool:
        return self._splitter is not None and self._splitter.in_thinking

    def feed(self, text: str, *, final: bool = False, cut: bool = False) -> list[RawMessageStreamEvent]:
        """Route ``text``; ``final``: the reply ends with it, ``cut``: a token limit ended
        it, so a tool call it cuts off is still a (cut) call."""
        if self._splitter is None:
            return self._answer(text, final, cut)
        out: list[RawMessageStreamEvent] = []
        pieces = self._splitter.feed(text, final=final)
        for piece in pieces:
            if isinstance(piece, ThinkingPiece):
                if self._display == "summarized":
                    out += self._asm.thinking(piece.text)
                elif self._display == "omitted":
                    out += self._asm.thinking("")
            elif isinstance(piece, ThinkingDone):
                if self._display != "hidden":
                    shown = self._splitter.thinking_text if self._display == "summarized" else ""
                    out += self._asm.thinking_done(self._sign(shown))
            elif isinstance(piece, AnswerPiece):
                out += self._answer(piece.text, False)
        if final:
            out += self._answer("", True, cut)
        return out

    def _answer(self, text: str, final: bool, cut: bool = False) -> list[RawMessageStreamEvent]:
        if self._tools is None:
            return self._asm.text(text)
        out: list[RawMessageStreamEvent] = []
        items = self._tools.feed(text) + (self._tools.finish(cut) if final else [])
        for item in items:
            if isinstance(item, TextPiece) and cut and self._forced and self._cut_before_name(item.text):
                item = ToolCall(self._forced, {}, complete=False)
            if isinstance(item, ToolCall):
                self._answered = True
                if self.done_calling:
                    continue
                if item.name in self._server:
                    # epistula runs it and the model continues in a new step: this step ends
                    # here (a cut call is not run: the turn ends in max_tokens)
                    out += self._asm.server_tool_use(ids.server_tool_use_id(), item.name, item.input)
                    self.done_calling = item.complete
                else:
                    out += self._asm.tool_use(ids.tool_use_id(), item.name, item.input)
                    self.done_calling = self._single and item.complete
            elif not self.done_calling:
                self._answered = self._answered or bool(item.text.strip())
                out += self._asm.text(item.text)
        return out

    def _cut_before_name(self, text: str) -> bool:
        """The reply is only the start of a call, cut before the tool's name was written."""
        text = text.lstrip()
        return not self._answered and bool(text) and (TRIGGER.startswith(text) or text.startswith(TRIGGER))
