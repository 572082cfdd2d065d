"""The tolerant reader: request values newer than epistula's contract, where that is safe.

Clients such as Claude Code ship new request shapes almost weekly. Fields that only shape
how a reply is *presented*, or that are gated behind a beta, accept values newer than
this contract: the server logs one structured warning (logger ``epistula.prompting.compat``) and
behaves as the nearest known value. Fields that change what a request *means*
(``tool_choice``, content blocks that carry data, ``max_tokens``, the thinking ``type``)
stay strict and answer 400. The README's "Tolerant reader" section has the table.

Each distinct unknown value is logged once per process (with a counter of how often it
was seen before that), so a client that sends it on every turn does not flood the log.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, get_args

from epistula.protocol.messages import (
    KnownDisplay,
    KnownEffort,
    OutputConfig,
    PromptParams,
    SystemMessageParam,
    ThinkingConfigAdaptive,
    ThinkingConfigBetweenTools,
    ThinkingConfigEnabled,
)

log = logging.getLogger("epistula.prompting.compat")

KNOWN_DISPLAYS: frozenset[str] = frozenset(get_args(KnownDisplay))
KNOWN_EFFORTS: frozenset[str] = frozenset(get_args(KnownEffort))
KNOWN_OUTPUT_CONFIG_KEYS = frozenset({"effort", "format", "task_budget"})
KNOWN_EDITS = frozenset({"clear_tool_uses_20250919", "clear_thinking_20251015"})
KNOWN_BETAS = frozenset(
    {
        # the newest SDK's AnthropicBetaParam (anthropic-api.md section 1.6) ...
        "message-batches-2024-09-24", "prompt-caching-2024-07-31", "computer-use-2024-10-22",
        "computer-use-2025-01-24", "computer-use-2025-11-24", "pdfs-2024-09-25", "token-counting-2024-11-01",
        "token-efficient-tools-2025-02-19", "output-128k-2025-02-19", "output-300k-2026-03-24",
        "files-api-2025-04-14", "mcp-client-2025-04-04", "mcp-client-2025-11-20", "mcp-client-2026-09-15",
        "dev-full-thinking-2025-05-14", "interleaved-thinking-2025-05-14", "code-execution-2025-05-22",
        "extended-cache-ttl-2025-04-11", "context-1m-2025-08-07", "context-management-2025-06-27",
        "model-context-window-exceeded-2025-08-26", "skills-2025-10-02", "structured-outputs-2025-11-13",
        "compact-2026-01-12", "compact-2026-09-04", "fast-mode-2026-02-01", "advisor-tool-2026-03-01",
        "task-budgets-2026-03-13", "user-profiles-2026-03-24", "user-profiles-2026-08-18",
        "user-profiles-2026-09-04", "user-profiles-billing-2026-10-01", "managed-agents-2026-04-01",
        "cache-diagnosis-2026-04-07", "dreaming-2026-04-21", "thinking-token-count-2026-05-13",
        "server-side-fallback-2026-06-01", "server-side-fallback-2026-07-01", "fallback-credit-2026-06-01",
        "fallback-credit-2026-07-01", "mcp-tunnels-2026-06-22", "mid-conversation-tool-changes-2026-07-01",
        "mid-conversation-output-config-2026-07-01", "ce-user-management-2026-07-13",
        "agent-memory-2026-07-22", "thinking-binding-controls-2026-08-01", "telemetry-destinations-2026-08-11",
        "message-threads-2026-08-12", "thinking-display-updates-2026-08-18",
        "mid-conversation-system-clear-at-2026-08-21",
        # ... and what Claude Code sends besides
        "claude-code-20250219", "advanced-tool-use-2025-11-20", "effort-2025-11-24", "per-turn-control-2026-07-01",
    }
)  # fmt: skip

_seen: dict[tuple[str, str], int] = {}
_seen_lock = threading.Lock()
_SEEN_LIMIT = 1024


def _warn(field: str, value: str, *, behaves_as: str, **extra: Any) -> None:
    """One structured warning per distinct (field, value), counted afterwards."""
    key = (field, value)
    with _seen_lock:
        count = _seen.get(key, 0)
        if count or len(_seen) < _SEEN_LIMIT:
            _seen[key] = count + 1
    if count == 0:
        log.warning(
            "accepted a request value newer than this server's contract",
            extra={"compat_field": field, "compat_value": value, "behaves_as": behaves_as, **extra},
        )


def seen_count(field: str, value: str) -> int:
    """How often an unknown value has been seen (tests and diagnostics)."""
    with _seen_lock:
        return _seen.get((field, value), 0)


def note_betas(header: str | None) -> tuple[str, ...]:
    """The ``anthropic-beta`` flags; unknown ones are accepted and logged."""
    flags = tuple(f.strip() for f in (header or "").split(",") if f.strip())
    for flag in flags:
        if flag not in KNOWN_BETAS:
            _warn("anthropic-beta", flag, behaves_as="ignored")
    return flags


def display_mode(value: str | None) -> KnownDisplay:
    """A thinking ``display`` as one epistula knows; a newer mode (``updates``) behaves as
    the default, ``summarized``."""
    if value == "omitted":
        return "omitted"
    if value is not None and value != "summarized":
        _warn("thinking.display", value, behaves_as="summarized")
    return "summarized"


def effort_level(value: str | None) -> KnownEffort:
    """``output_config.effort``; absent or newer than this contract behaves as ``high``."""
    if value in KNOWN_EFFORTS:
        return value  # type: ignore[return-value]
    if value is not None:
        _warn("output_config.effort", value, behaves_as="high")
    return "high"


def _output_config(config: OutputConfig | None, where: str) -> None:
    if config is None:
        return
    for key in sorted(set(config.model_extra or {}) - KNOWN_OUTPUT_CONFIG_KEYS):
        _warn(f"{where}.{key}", "present", behaves_as="ignored")
    if config.effort is not None:
        effort_level(config.effort)


def known_edits(params: PromptParams) -> list[tuple[int, dict[str, Any]]]:
    """The ``context_management`` edits epistula applies, with their indexes; newer edit
    types are logged and skipped."""
    edits = params.context_management.edits if params.context_management else None
    out: list[tuple[int, dict[str, Any]]] = []
    for i, edit in enumerate(edits or []):
        kind = str(edit.get("type"))
        if kind in KNOWN_EDITS:
            out.append((i, edit))
        else:
            _warn("context_management.edits.type", kind, behaves_as="skipped")
    return out


def note_request(params: PromptParams) -> None:
    """Log every tolerated value of a request once (presentation and beta fields only)."""
    thinking = params.thinking
    if isinstance(thinking, (ThinkingConfigEnabled, ThinkingConfigAdaptive, ThinkingConfigBetweenTools)):
        display_mode(thinking.display)
    _output_config(params.output_config, "output_config")
    for message in params.messages:
        if isinstance(message, SystemMessageParam):
            _output_config(message.output_config, "messages.output_config")
    known_edits(params)
