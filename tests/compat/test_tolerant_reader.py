"""The tolerant-reader rule (README, "Tolerant reader"), as a table of request shapes.

Values newer than epistula's contract in fields that only shape presentation or are
beta-gated are accepted, logged once on ``epistula.prompting.compat`` and treated as the nearest
known value; fields that change what a request means stay strict. The shapes come from
the newest anthropic SDK's types (``anthropic.types.beta``) and from Claude Code's
traffic (``thinking.display: "updates"`` with beta ``thinking-display-updates-2026-08-18``).
"""

from __future__ import annotations

import logging
from typing import Any, Literal, get_args, get_origin, get_type_hints

import httpx
import pytest

from conftest import MODEL, LiveServer
from epistula.generation import compat

BASE: dict[str, Any] = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "#say:ok"}]}

# (id, extra body fields, extra headers, (compat field, value) logged or None)
TOLERATED: list[tuple[str, dict[str, Any], dict[str, str], tuple[str, str] | None]] = [
    (
        "display-updates",
        {"thinking": {"type": "adaptive", "display": "updates"}},
        {"anthropic-beta": "thinking-display-updates-2026-08-18"},
        ("thinking.display", "updates"),
    ),
    (
        "display-enabled-future",
        {"thinking": {"type": "enabled", "budget_tokens": 1024, "display": "sketch-2099"}, "max_tokens": 2048},
        {},
        ("thinking.display", "sketch-2099"),
    ),
    (
        "block-binding",
        {"thinking": {"type": "adaptive", "block_binding": {"prefix_mismatch_behavior": "drop_block"}}},
        {"anthropic-beta": "thinking-binding-controls-2026-08-01"},
        None,
    ),
    (
        "output-config-key",
        {"output_config": {"effort": "low", "verbosity_2099": "terse"}},
        {},
        ("output_config.verbosity_2099", "present"),
    ),
    ("effort-future", {"output_config": {"effort": "ultra-2099"}}, {}, ("output_config.effort", "ultra-2099")),
    (
        "task-budget",
        {"output_config": {"task_budget": {"type": "tokens", "total": 1000}}},
        {"anthropic-beta": "task-budgets-2026-03-13"},
        None,
    ),
    (
        "edit-compact",
        {"context_management": {"edits": [{"type": "compact_20260112"}]}},
        {"anthropic-beta": "compact-2026-01-12"},
        ("context_management.edits.type", "compact_20260112"),
    ),
    (
        "edit-future",
        {"context_management": {"edits": [{"type": "clear_everything_20990101", "x": 1}]}},
        {},
        ("context_management.edits.type", "clear_everything_20990101"),
    ),
    (
        "beta-future",
        {},
        {"anthropic-beta": "claude-code-20250219,warp-drive-2099-01-01"},
        ("anthropic-beta", "warp-drive-2099-01-01"),
    ),
    (
        "system-message-output-config",
        {
            "messages": [
                {"role": "user", "content": "#say:ok"},
                {"role": "system", "content": "env", "output_config": {"effort": "medium", "pace_2099": 1}},
            ]
        },
        {"anthropic-beta": "per-turn-control-2026-07-01"},
        ("messages.output_config.pace_2099", "present"),
    ),
]

# (id, extra body fields, the 400 message's start)
STRICT: list[tuple[str, dict[str, Any], str]] = [
    (
        "tool-choice-future",
        {"tools": [{"name": "t", "input_schema": {"type": "object"}}], "tool_choice": {"type": "maybe_2099"}},
        "tool_choice",
    ),
    (
        "content-block-future",
        {"messages": [{"role": "user", "content": [{"type": "hologram_2099", "data": "x"}]}]},
        "messages.0.content.0",
    ),
    ("max-tokens-string", {"max_tokens": "64"}, "max_tokens"),
    ("thinking-type-future", {"thinking": {"type": "dreaming_2099"}}, "thinking"),
    (
        "known-edit-bad-option",
        {
            "context_management": {
                "edits": [{"type": "clear_tool_uses_20250919", "keep": {"type": "tool_uses", "value": -1}}]
            }
        },
        "context_management.edits.0.keep.value",
    ),
    (
        "known-edit-unknown-option",
        {"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all", "color": "red"}]}},
        "context_management.edits.0.color",
    ),
]


@pytest.mark.parametrize(("body", "headers", "logged"), [t[1:] for t in TOLERATED], ids=[t[0] for t in TOLERATED])
def test_tolerated(
    fake_server: LiveServer,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    body: dict[str, Any],
    headers: dict[str, str],
    logged: tuple[str, str] | None,
) -> None:
    with caplog.at_level(logging.WARNING, logger="epistula.prompting.compat"):
        response = http.post("/v1/messages", headers=fake_server.headers(**headers), json={**BASE, **body})
    assert response.status_code == 200, response.text
    if logged is not None:
        assert compat.seen_count(*logged) >= 1
        records = [
            r
            for r in caplog.records
            if getattr(r, "compat_field", None) == logged[0] and getattr(r, "compat_value", None) == logged[1]
        ]
        assert len(records) == 1 and records[0].behaves_as  # type: ignore[attr-defined]
        # a second time is counted, not logged again
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="epistula.prompting.compat"):
            again = http.post("/v1/messages", headers=fake_server.headers(**headers), json={**BASE, **body})
        assert again.status_code == 200
        assert not [r for r in caplog.records if getattr(r, "compat_value", None) == logged[1]]


@pytest.mark.parametrize(("body", "where"), [t[1:] for t in STRICT], ids=[t[0] for t in STRICT])
def test_strict(fake_server: LiveServer, http: httpx.Client, body: dict[str, Any], where: str) -> None:
    response = http.post("/v1/messages", headers=fake_server.headers(), json={**BASE, **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(where), error["message"]


def test_display_updates_shows_thinking_as_summarized(fake_server: LiveServer, http: httpx.Client) -> None:
    """``updates`` behaves as the default display: the thinking text is returned."""
    response = http.post(
        "/v1/messages",
        headers=fake_server.headers(),
        json={
            **BASE,
            "thinking": {"type": "adaptive", "display": "updates"},
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "#think:step by step #say:ok"}],
        },
    )
    content = response.json()["content"]
    assert [b["type"] for b in content] == ["thinking", "text"]
    assert content[0]["thinking"].startswith("step by step") and content[0]["signature"]


def _literals(hint: Any) -> set[str]:
    if get_origin(hint) is Literal:
        return {str(a) for a in get_args(hint)}
    return set().union(*(_literals(a) for a in get_args(hint))) if get_args(hint) else set()


def test_sdk_newest_literals_are_known_or_tolerated() -> None:
    """Every display mode and edit type the newest SDK can send is known or tolerated by name:
    none of them is a 400 (the table above sends the ones epistula does not know)."""
    from anthropic.types.beta import BetaContextManagementConfigParam, BetaThinkingConfigAdaptiveParam

    displays = _literals(get_type_hints(BetaThinkingConfigAdaptiveParam)["display"])
    assert displays >= {"summarized", "omitted", "updates"}
    tolerated_displays = {t[1]["thinking"].get("display") for t in TOLERATED if "thinking" in t[1]}
    assert displays <= compat.KNOWN_DISPLAYS | tolerated_displays
    edit_types = {
        next(iter(_literals(get_type_hints(edit)["type"])))
        for edit in get_args(get_args(get_type_hints(BetaContextManagementConfigParam)["edits"])[0])
    }
    tolerated_edits = {e["type"] for t in TOLERATED for e in t[1].get("context_management", {}).get("edits", [])}
    assert edit_types <= compat.KNOWN_EDITS | tolerated_edits
