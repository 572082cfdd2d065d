"""Named, tested shims for what real clients (Claude Code above all) send.

Each quirk lives here, in one function, instead of being scattered through
validation and rendering.
"""

from __future__ import annotations

from typing import TypeVar

from epistula.protocol.content import TextBlockParam

BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"

_Block = TypeVar("_Block", bound=TextBlockParam)


def strip_billing_header(text: str) -> str:
    """``text`` without a leading ``x-anthropic-billing-header: ...`` line.

    Claude Code's billing line (``cc_version=2.1.330.440; cc_entrypoint=...;
    cch=<hash>;``) changes on every request. It is not an instruction for the
    model, and keeping any of it would make every prompt differ from its first
    tokens on, which defeats prefix caching (vLLM #36829, llama.cpp #21793,
    SGLang #21064). Only the header line goes: text after it in the same block
    (a client or proxy that joined the system blocks) is kept."""
    stripped = text.lstrip()
    if not stripped.startswith(BILLING_HEADER_PREFIX):
        return text
    _, newline, rest = stripped.partition("\n")
    return rest.lstrip("\n") if newline else ""


def drop_billing_header_blocks(blocks: list[_Block]) -> list[_Block]:
    """System blocks with the billing header line removed, and blocks that held
    nothing else dropped (Claude Code sends it as a block of its own)."""
    out: list[_Block] = []
    for block in blocks:
        text = strip_billing_header(block.text)
        if text is block.text:
            out.append(block)
        elif text.strip():
            out.append(block.model_copy(update={"text": text}))
    return out
