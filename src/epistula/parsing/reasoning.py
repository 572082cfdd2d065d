"""Split a reasoning model's ``<think>...</think>`` section from its answer, incrementally."""

from __future__ import annotations

from dataclasses import dataclass

OPEN = "<think>"
CLOSE = "</think>"


@dataclass(frozen=True, slots=True)
class ThinkingPiece:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDone:
    pass


@dataclass(frozen=True, slots=True)
class AnswerPiece:
    text: str


ReasoningEvent = ThinkingPiece | ThinkingDone | AnswerPiece


def _partial_suffix(buf: str, marker: str) -> int:
    for n in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:n]):
            return n
    return 0


class ReasoningSplitter:
    """``started_inside``: the prompt already opened ``<think>`` (templates that prefill it)."""

    def __init__(self, *, started_inside: bool = False) -> None:
        self._state = "thinking" if started_inside else "start"
        self._buf = ""
        self.thinking_text = ""

    @property
    def in_thinking(self) -> bool:
        return self._state == "thinking"

    def feed(self, text: str, final: bool = False) -> list[ReasoningEvent]:
        self._buf += text
        out: list[ReasoningEvent] = []
        while True:
            if self._state == "start":
                stripped = self._buf.lstrip()
                if stripped.startswith(OPEN):
                    self._buf = stripped[len(OPEN) :].lstrip("\n")
                    self._state = "thinking"
                    continue
                if not final and (OPEN.startswith(stripped)):
                    return out
                self._state = "answer"
                continue
            if self._state == "thinking":
                pos = self._buf.find(CLOSE)
                if pos == -1:
                    keep = 0 if final else _partial_suffix(self._buf, CLOSE)
                    piece = self._buf[: len(self._buf) - keep]
                    self._buf = self._buf[len(self._buf) - keep :]
                    if piece:
                        self.thinking_text += piece
                        out.append(ThinkingPiece(piece))
                    if final:
                        out.append(ThinkingDone())
                        self._state = "answer-start"
                    return out
                piece = self._buf[:pos]
                if piece:
                    self.thinking_text += piece
                    out.append(ThinkingPiece(piece))
                out.append(ThinkingDone())
                self._buf = self._buf[pos + len(CLOSE) :]
                self._state = "answer-start"
                continue
            if self._state == "answer-start":
                # Drop the blank lines between ``</think>`` and the answer.
                self._buf = self._buf.lstrip("\n")
                if not self._buf:
                    return out
                self._state = "answer"
            if self._buf:
                out.append(AnswerPiece(self._buf))
                self._buf = ""
            return out
