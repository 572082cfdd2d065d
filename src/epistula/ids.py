"""Ids with the real prefixes: ``<prefix>01`` followed by base62 characters."""

from __future__ import annotations

import secrets
import string
from functools import partial

_ALPHABET = string.ascii_letters + string.digits


def _base62(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_id(prefix: str, length: int = 22) -> str:
    return f"{prefix}01{_base62(length)}"


message_id = partial(new_id, "msg_")
request_id = partial(new_id, "req_")
tool_use_id = partial(new_id, "toolu_")
batch_id = partial(new_id, "msgbatch_")
file_id = partial(new_id, "file_")
server_tool_use_id = partial(new_id, "srvtoolu_")
container_id = partial(new_id, "container_")
