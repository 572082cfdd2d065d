"""The block budget: how many messages and content blocks one request may carry, counted
on the decoded JSON *before* pydantic validates it.

Validation cost grows with the number of blocks, not with the bytes: 300,000 one-letter
text blocks fit easily in a 32 MB body and take seconds of GIL-bound validation, which
stalls every other request of the process. Counting the blocks of the raw JSON is a plain
walk over lists (milliseconds), so a request over budget is refused with a 400 before any
of that work. The limit follows the real API's documented 100,000 messages per request,
applied to messages and blocks together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from epistula.errors import InvalidRequestError

MAX_REQUEST_BLOCKS = 100_000
"""Messages, their content blocks (tool results' inner blocks too), system blocks and tools."""
MAX_BATCH_BLOCKS = 1_000_000
"""The same count summed over every request of one Message Batch."""


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _content_blocks(blocks: Iterable[Any]) -> int:
    n = 0
    for block in blocks:
        n += 1
        if isinstance(block, dict):
            n += len(_listed(block.get("content")))
    return n


def count_blocks(raw: dict[str, Any]) -> int:
    """The budget units of one Messages request body (anything malformed counts 0: validation
    will describe it)."""
    messages = _listed(raw.get("messages"))
    n = len(messages) + len(_listed(raw.get("system"))) + len(_listed(raw.get("tools")))
    for message in messages:
        if isinstance(message, dict):
            n += _content_blocks(_listed(message.get("content")))
    return n


def check_block_budget(raw: dict[str, Any], *, where: str = "") -> int:
    """Raise a 400 if the request is over :data:`MAX_REQUEST_BLOCKS`; return its count."""
    n = count_blocks(raw)
    if n > MAX_REQUEST_BLOCKS:
        raise InvalidRequestError(
            f"{where}messages: the request has {n:,} messages and content blocks (system blocks, tool "
            f"results and tools included); at most {MAX_REQUEST_BLOCKS:,} are allowed"
        )
    return n


def check_batch_budget(raw: dict[str, Any]) -> None:
    """Every request of a batch body within :data:`MAX_REQUEST_BLOCKS`, and the whole batch
    within :data:`MAX_BATCH_BLOCKS`."""
    total = 0
    for i, item in enumerate(_listed(raw.get("requests"))):
        params = item.get("params") if isinstance(item, dict) else None
        if isinstance(params, dict):
            total += check_block_budget(params, where=f"requests.{i}.params.")
    if total > MAX_BATCH_BLOCKS:
        raise InvalidRequestError(
            f"requests: the batch has {total:,} messages and content blocks in all; at most "
            f"{MAX_BATCH_BLOCKS:,} are allowed per batch"
        )
