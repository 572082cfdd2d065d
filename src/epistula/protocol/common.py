"""Small shared request types: cache control, citations config, metadata."""

from __future__ import annotations

from typing import Literal

from ._base import RequestModel


class CacheControlEphemeral(RequestModel):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None
    scope: str | None = None
    """Sent by Claude Code under beta ``prompt-caching-scope-2026-01-05``; accepted, unused."""


class CitationsConfig(RequestModel):
    enabled: bool | None = None


class Metadata(RequestModel):
    user_id: str | None = None
