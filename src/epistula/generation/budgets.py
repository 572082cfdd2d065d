"""The block budget: how many messages and content blocks one request may carry, counted
on the decoded JSON *before* pydantic validates it.

Validation cost grows with the number of blocks, not with the bytes: 300,000 one-letter
text blocks fit easily in a 32 MB body and take seconds of GIL-bound validation, which
stalls every other request of the process. Counting the blocks of the raw JSON is a plain
walk over lists (milliseconds), so a request over budget is refused with a 400 before any
of that work. The limit follows the real API's documented 100,000 messages per request,
applied to messages and blocks together.

The schema budgets (:mod:`epistula.constraints.schema_check`) are checked on the raw JSON
here too: a multi-MB tool or format schema would otherwise be validated, copied and hashed
by the grammar step (GIL-bound work of hundreds of milliseconds) only to be refused there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from epistula.constraints.schema_check import check_schema
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


def _format_schema(raw: dict[str, Any]) -> tuple[object, str]:
    """The output format's schema and its path, as the grammar step picks them
    (``output_config.format`` first, else the deprecated ``output_format``)."""
    config = raw.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is not None:
        return (fmt.get("schema") if isinstance(fmt, dict) else None), "output_config.format.schema"
    fmt = raw.get("output_format")
    return (fmt.get("schema") if isinstance(fmt, dict) else None), "output_format.schema"


def check_schema_budgets(raw: dict[str, Any]) -> None:
    """Raise the grammar step's 400 (same message, same path) if a custom tool's
    ``input_schema`` or the output format's schema is over a schema budget. Anything that
    is not a JSON object is left to validation, which describes it."""
    for i, tool in enumerate(_listed(raw.get("tools"))):
        if isinstance(tool, dict) and tool.get("type") in (None, "custom"):
            schema = tool.get("input_schema")
            if isinstance(schema, dict):  # the grammar step drops ``$schema`` too
                check_schema({k: v for k, v in schema.items() if k != "$schema"}, f"tools.{i}.input_schema")
    schema, path = _format_schema(raw)
    if isinstance(schema, dict):
        check_schema(schema, path)


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
