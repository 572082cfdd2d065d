"""Find tool calls in streamed model text, whatever syntax the model family uses.

Recognised (see ../shared/research/small-model-tool-calls.md for why a parser that
only knows the template's exact syntax loses most calls of small models):

* Hermes / Qwen: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, or the
  same call inside ``<tool_response>`` tags (a small model that has seen tool results
  opens one; ``tool_choice: auto``'s grammar then makes it hold a call)
* Mistral: ``[TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]``
* Llama 3: ``<|python_tag|>{"name": ..., "parameters": {...}}`` or the bare object
* A bare JSON object or array of calls (at the start of the reply: Mistral's
  ``[TOOL_CALLS]`` is a control token, so its array arrives bare) or a fenced ```json
  block anywhere, when it names an offered tool.

A candidate that does not parse, or names no offered tool, is given back as text,
unchanged. A call the token limit cut off (``finish(cut=True)``) becomes a call with the
members written in full, marked incomplete, as the Claude API returns a ``tool_use`` block
whose input was cut by ``max_tokens`` (the SDK's own partial parse of the streamed JSON
drops an unfinished string the same way). The parser is split-invariant: any chunking
of the same text yields the same events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json

OPENERS = ("<tool_call>", "<tool_response>", "[TOOL_CALLS]", "<|python_tag|>", "```json", "```")
CLOSERS = {"<tool_call>": "</tool_call>", "<tool_response>": "</tool_response>", "```json": "```", "```": "```"}

BARE = ("{", "[")
"""Openers that are the first character of the JSON itself."""


@dataclass(frozen=True, slots=True)
class TextPiece:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    input: dict[str, Any]
    complete: bool = True
    """False: the token limit cut the call off; ``input`` holds the members written in full."""


ParsedEvent = TextPiece | ToolCall


def _json_end(text: str, start: int) -> int | None:
    """Index just past the JSON object/array starting at ``start``, or None if incomplete."""
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _arguments(item: dict[str, Any]) -> Any:
    """A call object's arguments, under whichever key the model used."""
    return item.get("arguments", item.get("parameters", item.get("input", {})))


def _as_calls(payload: Any, tools: set[str]) -> list[ToolCall] | None:
    items = payload if isinstance(payload, list) else [payload]
    calls: list[ToolCall] = []
    for item in items:
        if not isinstance(item, dict) or item.get("name") not in tools:
            return None
        args = _arguments(item)
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                return None
        if not isinstance(args, dict):
            return None
        calls.append(ToolCall(name=item["name"], input=args))
    return calls or None


def _started(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper start of ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:n]):
            return n
    return 0


def _without_cut_closer(body: str, closer: str) -> str:
    """``body`` without the start of ``closer`` that ends it (the end came while the
    closing tag was being written)."""
    return body[: len(body) - _started(body, closer)]


def _cut_calls(body: str, tools: set[str]) -> list[ToolCall] | None:
    """The calls of a body the token limit cut off: those before the last whole, the last
    one with the arguments written so far (None when no offered tool is named)."""
    try:
        payload = from_json(body.strip(), allow_partial=True)
    except ValueError:
        return None
    items = payload if isinstance(payload, list) else [payload]
    last = items[-1] if items else None
    whole = _as_calls(items[:-1], tools) if len(items) > 1 else []
    if whole is None:
        return None
    if not isinstance(last, dict) or last.get("name") not in tools:
        return whole or None
    args = _arguments(last)
    return [*whole, ToolCall(name=last["name"], input=args if isinstance(args, dict) else {}, complete=False)]


class ToolCallParser:
    def __init__(self, tool_names: Iterable[str]) -> None:
        self._tools = set(tool_names)
        self._buf = ""
        self._seen_text = False
        self.calls = 0

    def _opener_at(self, buf: str) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for opener in OPENERS:
            pos = buf.find(opener)
            if pos != -1 and (best is None or pos < best[0] or (pos == best[0] and len(opener) > len(best[1]))):
                best = (pos, opener)
        if not self._seen_text:
            stripped = len(buf) - len(buf.lstrip())
            if stripped < len(buf) and buf[stripped] in "{[" and (best is None or stripped < best[0]):
                best = (stripped, buf[stripped])
        return best

    def _held_suffix(self, buf: str) -> int:
        """Length of a suffix that could be the start of an opener."""
        return max(_started(buf, opener) for opener in OPENERS)

    def _try_call(
        self, buf: str, pos: int, opener: str, final: bool, cut: bool = False
    ) -> tuple[list[ParsedEvent], int] | None:
        """Events and the consumed length, or None when more text is needed."""
        body_start = pos + (0 if opener in BARE else len(opener))
        closer = CLOSERS.get(opener)
        if closer is not None:
            end = buf.find(closer, body_start)
            if end == -1:
                if not final:
                    return None
                body, consumed, ended = _without_cut_closer(buf[body_start:], closer), len(buf), False
            else:
                body, consumed, ended = buf[body_start:end], end + len(closer), True
        else:
            first = len(buf) - len(buf[body_start:].lstrip())
            if first >= len(buf):
                return None if not final else ([TextPiece(buf[pos:])], len(buf))
            end_json = _json_end(buf, first)
            if end_json is None:
                if not final:
                    return None
                body, consumed, ended = buf[first:], len(buf), False
            else:
                body, consumed, ended = buf[first:end_json], end_json, True
        try:
            payload = json.loads(body.strip())
        except json.JSONDecodeError:
            payload = None
        calls = _as_calls(payload, self._tools) if payload is not None else None
        if calls is None and cut and not ended:
            calls = _cut_calls(body, self._tools)
        if calls is None:
            return [TextPiece(buf[pos:consumed])], consumed
        self.calls += len(calls)
        return list(calls), consumed

    def _drain(self, final: bool, cut: bool = False) -> list[ParsedEvent]:
        events: list[ParsedEvent] = []
        while self._buf:
            found = self._opener_at(self._buf)
            if found is None:
                keep = 0 if final else self._held_suffix(self._buf)
                text = self._buf[: len(self._buf) - keep]
                self._buf = self._buf[len(self._buf) - keep :]
                self._emit_text(text, events)
                break
            pos, opener = found
            self._emit_text(self._buf[:pos], events)
            self._buf = self._buf[pos:]
            result = self._try_call(self._buf, 0, opener, final, cut)
            if result is None:
                break
            produced, consumed = result
            for ev in produced:
                if isinstance(ev, TextPiece):
                    self._emit_text(ev.text, events)
                else:
                    events.append(ev)
            self._buf = self._buf[consumed:]
        return events

    def _emit_text(self, text: str, events: list[ParsedEvent]) -> None:
        if not text:
            return
        if text.strip():
            self._seen_text = True
        if events and isinstance(events[-1], TextPiece):
            events[-1] = TextPiece(events[-1].text + text)
        else:
            events.append(TextPiece(text))

    def feed(self, text: str) -> list[ParsedEvent]:
        self._buf += text
        return self._drain(final=False)

    def finish(self, cut: bool = False) -> list[ParsedEvent]:
        """The rest of the text; ``cut``: the token limit ended it, so a call it cuts off
        is a call all the same (incomplete), not text."""
        return self._drain(final=True, cut=cut)
