"""Named, tested shims for what real clients (Claude Code above all) send.

Each quirk lives here, in one function, instead of being scattered through
validation and rendering.
"""

from __future__ import annotations

from typing import TypeVar

from epistula.protocol.content import TextBlockParam

BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"

_Block = TypeVar("_Block", bound=TextBlockParam)


def drop_billing_header_blocks(blocks: list[_Block]) -> list[_Block]:
    """Claude Code's first system block is ``x-anthropic-billing-header: cc_version=...;
    cch=<hash>;`` and changes on every request. It is not an instruction for the model,
    and keeping it would make every prompt differ from its first tokens on, which
    defeats prefix caching (vLLM #36829, llama.cpp #21793, SGLang #21064). Drop it."""
    return [b for b in blocks if not b.text.lstrip().startswith(BILLING_HEADER_PREFIX)]
