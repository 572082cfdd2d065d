"""OpenAI-style response headers next to ours: ``x-ratelimit-*`` from the gate's
``anthropic-ratelimit-*`` values (the same buckets as ``/v1/messages``), ``openai-version``
and ``x-request-id`` (where the OpenAI SDK looks for the request id)."""

from __future__ import annotations

import math
import time
from datetime import datetime

OPENAI_VERSION = "2020-10-01"
_PREFIX = "anthropic-ratelimit-"


def _duration(reset: str, now: float) -> str | None:
    """RFC 3339 -> OpenAI's duration form (``"7s"``, ``"1m30s"``)."""
    try:
        at = datetime.fromisoformat(reset.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    seconds = max(0, math.ceil(at - now))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def openai_headers(headers: dict[str, str], *, request_id: str, now: float | None = None) -> dict[str, str]:
    now = time.time() if now is None else now
    out = dict(headers)
    out["openai-version"] = OPENAI_VERSION
    out["x-request-id"] = request_id
    for dimension in ("requests", "tokens"):
        for part in ("limit", "remaining"):
            if (value := headers.get(f"{_PREFIX}{dimension}-{part}")) is not None:
                out[f"x-ratelimit-{part}-{dimension}"] = value
        reset = headers.get(f"{_PREFIX}{dimension}-reset")
        if reset is not None and (duration := _duration(reset, now)) is not None:
            out[f"x-ratelimit-reset-{dimension}"] = duration
    return out
