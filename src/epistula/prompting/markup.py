"""Which control tokens of a rendered prompt are template markup.

Only the chat template may produce control tokens (``<|im_start|>``, ``<|im_end|>``...).
User, tool and document text that happens to contain their text must reach the model
as plain text, or ``<|im_start|>system`` in a user turn would open a real system turn.

When no value handed to the template contains control-token text (the usual case), the
rendered prompt is tokenized in one piece with control tokens parsed. Otherwise the
conversation is rendered a second time with that text replaced by same-length neutral
characters: the control tokens left in the second rendering are the template's own,
and their places in the real rendering are the only ones tokenized as control tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from epistula.errors import InvalidRequestError

Span = tuple[int, int]
_NEUTRAL = "\ue000"
"""A private-use character that stands in for each character of injected control text."""


class Tokenizer(Protocol):
    def __call__(self, text: str, *, special: bool) -> Sequence[int]: ...


class ControlTokens:
    """The control-token texts of one model."""

    def __init__(self, texts: frozenset[str]) -> None:
        ordered = sorted(texts, key=len, reverse=True)  # longest first, like the tokenizer
        self._pattern = re.compile("|".join(re.escape(t) for t in ordered)) if ordered else None

    def found_in(self, value: Any) -> bool:
        """Whether any string in ``value`` (nested dicts, lists; keys included) holds control text."""
        if self._pattern is None:
            return False
        if isinstance(value, str):
            return self._pattern.search(value) is not None
        if isinstance(value, dict):
            return any(self.found_in(k) or self.found_in(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return any(self.found_in(v) for v in value)
        return False

    def neutralize(self, value: Any) -> Any:
        """``value`` with every control text replaced by as many neutral characters."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self._pattern.sub(lambda m: _NEUTRAL * len(m.group()), value)
        if isinstance(value, dict):
            return {self.neutralize(k): self.neutralize(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.neutralize(v) for v in value]
        return value

    def spans(self, text: str) -> tuple[Span, ...]:
        if self._pattern is None:
            return ()
        return tuple(m.span() for m in self._pattern.finditer(text))


@lru_cache(maxsize=16)
def control_tokens(texts: frozenset[str]) -> ControlTokens:
    return ControlTokens(texts)


def markup_spans(text: str, neutral: str, controls: ControlTokens) -> tuple[Span, ...]:
    """The template's own control tokens in ``text``, located in its ``neutral`` rendering."""
    if len(neutral) != len(text):
        raise InvalidRequestError(
            "messages: the text contains the model's control tokens in a way its chat template "
            "cannot render as plain text"
        )
    return controls.spans(neutral)


def tokenize_rendered(tokenize: Tokenizer, text: str, markup: tuple[Span, ...] | None) -> list[int]:
    """Tokens of ``text`` (or of a prefix of the text ``markup`` was measured on): control
    tokens only at ``markup``; ``None`` means every control token in ``text`` is markup."""
    if markup is None:
        return list(tokenize(text, special=True))
    ids: list[int] = []
    pos = 0
    for start, end in markup:
        if end > len(text):
            break
        if start > pos:
            ids.extend(tokenize(text[pos:start], special=False))
        ids.extend(tokenize(text[start:end], special=True))
        pos = end
    if pos < len(text):
        ids.extend(tokenize(text[pos:], special=False))
    return ids
