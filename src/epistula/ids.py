"""Ids with the real prefixes: ``<prefix>01`` followed by base62 characters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def _base62(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_id(prefix: str, length: int = 22) -> str:
    return f"{prefix}01{_base62(length)}"


def message_id() -> str:
    return new_id("msg_")


def request_id() -> str:
    return new_id("req_")


def tool_use_id() -> str:
    return new_id("toolu_")


def batch_id() -> str:
    return new_id("msgbatch_")


def file_id() -> str:
    return new_id("file_")


def server_tool_use_id() -> str:
    return new_id("srvtoolu_")


def container_id() -> str:
    return new_id("container_")
