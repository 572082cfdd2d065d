"""A request's ``cache_control`` breakpoints, in the order the API processes blocks.

Blocks are numbered tools first, then system blocks, then each message's content
blocks (string content counts as one block). A breakpoint marks the prefix of the
request up to and including its block. The top-level ``cache_control``
(automatic caching) puts one more breakpoint on the last cacheable block; it
takes one of the four slots unless that block already has its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from epistula.engines.base import CacheTTL
from epistula.errors import InvalidRequestError
from epistula.protocol.common import CacheControlEphemeral
from epistula.protocol.messages import PromptParams

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
"""A read for a breakpoint finds cache entries at the block boundaries up to this
many blocks before it (an entry further back is a miss)."""

Section = Literal["tools", "system", "messages"]


@dataclass(frozen=True, slots=True)
class BlockRef:
    """One block: a tool, a system block, or a message's content block
    (``block`` is None for a message whose content is a plain string)."""

    section: Section
    index: int
    block: int | None = None

    @property
    def path(self) -> str:
        """The block's location as the API's error messages spell it."""
        if self.section != "messages" or self.block is None:
            return f"{self.section}.{self.index}"
        return f"messages.{self.index}.content.{self.block}"


@dataclass(frozen=True, slots=True)
class Breakpoint:
    ref: BlockRef
    position: int
    """The block's number in processing order (0-based)."""
    ttl: CacheTTL


def blocks(params: PromptParams) -> list[tuple[BlockRef, CacheControlEphemeral | None, bool]]:
    """Every block in processing order with its ``cache_control`` and whether it may
    carry one (``thinking`` blocks may not)."""
    out: list[tuple[BlockRef, CacheControlEphemeral | None, bool]] = []
    for i, tool in enumerate(params.tools or []):
        out.append((BlockRef("tools", i), getattr(tool, "cache_control", None), True))
    if isinstance(params.system, list):
        for i, sys_block in enumerate(params.system):
            out.append((BlockRef("system", i), sys_block.cache_control, True))
    elif params.system:
        out.append((BlockRef("system", 0), None, True))
    for i, message in enumerate(params.messages):
        if isinstance(message.content, str):
            out.append((BlockRef("messages", i), None, True))
            continue
        for j, block in enumerate(message.content):
            cacheable = hasattr(block, "cache_control")
            out.append((BlockRef("messages", i, j), getattr(block, "cache_control", None), cacheable))
    return out


def find_breakpoints(params: PromptParams) -> list[Breakpoint]:
    """The breakpoints in processing order; raises the API's 400s for a fifth
    breakpoint or a 1-hour breakpoint after a 5-minute one."""
    all_blocks = blocks(params)
    found: list[Breakpoint] = []
    for position, (ref, control, _) in enumerate(all_blocks):
        if control is not None:
            found.append(Breakpoint(ref, position, control.ttl or "5m"))
    auto = params.cache_control
    if auto is not None:
        last = next((p for p in range(len(all_blocks) - 1, -1, -1) if all_blocks[p][2]), None)
        if last is not None and all(b.position != last for b in found):
            found.append(Breakpoint(all_blocks[last][0], last, auto.ttl or "5m"))
    if len(found) > MAX_BREAKPOINTS:
        raise InvalidRequestError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(found)}."
        )
    seen_5m = False
    for bp in found:
        if bp.ttl == "1h" and seen_5m:
            raise InvalidRequestError(
                f"{bp.ref.path}.cache_control.ttl: a ttl='1h' cache_control block must not come after a "
                "ttl='5m' cache_control block. Note that blocks are processed in the following order: "
                "`tools`, `system`, `messages`."
            )
        seen_5m = seen_5m or bp.ttl == "5m"
    return found


def lookback_ref(params: PromptParams, position: int) -> BlockRef | None:
    """The earliest block whose end a read for a breakpoint at ``position`` may
    use, or None when the lookback reaches the start of the request."""
    earliest = position - LOOKBACK_BLOCKS
    if earliest < 0:
        return None
    return blocks(params)[earliest][0]


def truncate(params: PromptParams, ref: BlockRef) -> PromptParams:
    """The request cut right after block ``ref``.

    Tools are rendered inside the system turn, after the system text (see
    :mod:`epistula.prompting.render`), so a cut inside the tools keeps the system
    prompt: the prefix a tool breakpoint caches includes the system prompt, and a
    change to the system prompt misses it (on the real API it would still hit).
    """
    update: dict[str, Any] = {}
    if ref.section == "tools":
        update = {"tools": (params.tools or [])[: ref.index + 1], "messages": []}
    elif ref.section == "system":
        system = params.system[: ref.index + 1] if isinstance(params.system, list) else params.system
        update = {"system": system, "messages": []}
    else:
        message = params.messages[ref.index]
        if ref.block is not None and isinstance(message.content, list):
            message = message.model_copy(update={"content": message.content[: ref.block + 1]})
        update = {"messages": [*params.messages[: ref.index], message]}
    return params.model_copy(update=update)
