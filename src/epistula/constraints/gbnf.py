"""GBNF string literals for text and for JSON values."""

from __future__ import annotations

import json
from typing import Any


def literal(text: str) -> str:
    """A GBNF string literal matching ``text`` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    escaped = escaped.replace("\t", "\\t")
    return f'"{escaped}"'


def json_literal(value: Any) -> str:
    """A GBNF literal for ``value`` as JSON (``", "``/``": "`` separators, the spacing the
    grammar's objects and arrays use); non-ASCII raw unless it cannot be UTF-8."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only its \\u escape is writable
        text = json.dumps(value)
    return literal(text)
