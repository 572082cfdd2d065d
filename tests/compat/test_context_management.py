"""``context_management`` edits applied before rendering, and reported as the real API does."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import MODEL, LiveServer, parse_sse

BETA = {"anthropic-beta": "context-management-2025-06-27"}
BIG = "output line\n" * 40


def round_trips(n: int, *, name: str = "Bash") -> list[dict[str, Any]]:
    """``n`` finished tool round trips, then a final user question."""
    messages: list[dict[str, Any]] = []
    for i in range(n):
        messages.append({"role": "user", "content": f"step {i}"})
        call = {"command": f"ls dir{i} " + "x" * 30}
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": f"toolu_{name}_{i}", "name": name, "input": call}],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"toolu_{name}_{i}", "content": f"{BIG}result {i}"}],
            }
        )
    messages.append({"role": "assistant", "content": "Done."})
    messages.append({"role": "user", "content": "#say:ok"})
    return messages


TOOLS = [{"name": n, "input_schema": {"type": "object"}} for n in ("Bash", "Read")]


def post(live: LiveServer, http: httpx.Client, path: str = "/v1/messages", **body: Any) -> httpx.Response:
    return http.post(path, headers=live.headers(**BETA), json={"model": MODEL, "tools": TOOLS, **body})


def test_clear_tool_uses_frees_exactly_what_it_reports(fake_server: LiveServer, http: httpx.Client) -> None:
    messages = round_trips(4)
    plain = post(fake_server, http, max_tokens=16, messages=messages).json()
    assert "context_management" not in plain  # not asked for: not reported
    edit = {
        "type": "clear_tool_uses_20250919",
        "trigger": {"type": "tool_uses", "value": 2},
        "keep": {"type": "tool_uses", "value": 1},
    }
    edited = post(fake_server, http, max_tokens=16, messages=messages, context_management={"edits": [edit]}).json()
    applied = edited["context_management"]["applied_edits"]
    assert len(applied) == 1 and applied[0]["type"] == "clear_tool_uses_20250919"
    assert applied[0]["cleared_tool_uses"] == 3
    freed = plain["usage"]["input_tokens"] - edited["usage"]["input_tokens"]
    assert freed > 3 * len(BIG) // 2
    assert applied[0]["cleared_input_tokens"] == freed


def test_trigger_not_reached_applies_nothing(fake_server: LiveServer, http: httpx.Client) -> None:
    edits = [{"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 10**6}}]
    reply = post(fake_server, http, max_tokens=16, messages=round_trips(5), context_management={"edits": edits})
    assert reply.json()["context_management"] == {"applied_edits": []}


def test_exclude_tools_clear_inputs_and_clear_at_least(fake_server: LiveServer, http: httpx.Client) -> None:
    messages = round_trips(2)
    messages[-2:-2] = round_trips(2, name="Read")[:-2]  # two Read round trips before the end
    base = {
        "type": "clear_tool_uses_20250919",
        "trigger": {"type": "tool_uses", "value": 0},
        "keep": {"type": "tool_uses", "value": 0},
    }
    only_bash = post(
        fake_server,
        http,
        max_tokens=16,
        messages=messages,
        context_management={"edits": [{**base, "exclude_tools": ["Read"]}]},
    ).json()
    assert only_bash["context_management"]["applied_edits"][0]["cleared_tool_uses"] == 2
    inputs = post(
        fake_server,
        http,
        max_tokens=16,
        messages=messages,
        context_management={"edits": [{**base, "exclude_tools": ["Read"], "clear_tool_inputs": True}]},
    ).json()
    more = inputs["context_management"]["applied_edits"][0]["cleared_input_tokens"]
    assert more > only_bash["context_management"]["applied_edits"][0]["cleared_input_tokens"]
    too_little = post(
        fake_server,
        http,
        max_tokens=16,
        messages=messages,
        context_management={"edits": [{**base, "clear_at_least": {"type": "input_tokens", "value": 10**6}}]},
    ).json()
    assert too_little["context_management"]["applied_edits"] == []


def thinking_history(live: LiveServer, http: httpx.Client, turns: int) -> list[dict[str, Any]]:
    """A conversation with ``turns`` assistant turns that carry signed thinking blocks."""
    messages: list[dict[str, Any]] = []
    for i in range(turns):
        messages.append({"role": "user", "content": f"#think:thought {i} #say:answer {i}"})
        reply = http.post(
            "/v1/messages",
            headers=live.headers(),
            json={
                "model": MODEL,
                "max_tokens": 2048,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": messages,
            },
        ).json()
        messages.append({"role": "assistant", "content": reply["content"]})
    messages.append({"role": "user", "content": "#say:ok"})
    return messages


def test_clear_thinking_keeps_newest_turns(fake_server: LiveServer, http: httpx.Client) -> None:
    messages = thinking_history(fake_server, http, 3)
    default = post(
        fake_server,
        http,
        max_tokens=16,
        messages=messages,
        context_management={"edits": [{"type": "clear_thinking_20251015"}]},
    ).json()
    [applied] = default["context_management"]["applied_edits"]
    assert applied["type"] == "clear_thinking_20251015" and applied["cleared_thinking_turns"] == 2
    assert applied["cleared_input_tokens"] >= 0
    keep_all = post(
        fake_server,
        http,
        max_tokens=16,
        messages=messages,
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    ).json()
    assert keep_all["context_management"]["applied_edits"] == []
    keep_two = post(
        fake_server,
        http,
        max_tokens=16,
        messages=messages,
        context_management={
            "edits": [{"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 2}}]
        },
    ).json()
    assert keep_two["context_management"]["applied_edits"][0]["cleared_thinking_turns"] == 1


def test_streamed_report_in_message_start_and_message_delta(fake_server: LiveServer, http: httpx.Client) -> None:
    edit = {
        "type": "clear_tool_uses_20250919",
        "trigger": {"type": "tool_uses", "value": 1},
        "keep": {"type": "tool_uses", "value": 1},
    }
    response = post(
        fake_server, http, max_tokens=16, stream=True, messages=round_trips(3), context_management={"edits": [edit]}
    )
    events = dict(parse_sse(response.text))
    start = events["message_start"]["message"]["context_management"]
    delta = events["message_delta"]["context_management"]
    assert start == delta and delta["applied_edits"][0]["cleared_tool_uses"] == 2


def test_count_tokens_reports_the_original_count(fake_server: LiveServer, http: httpx.Client) -> None:
    edit = {
        "type": "clear_tool_uses_20250919",
        "trigger": {"type": "tool_uses", "value": 1},
        "keep": {"type": "tool_uses", "value": 1},
    }
    messages = round_trips(3)
    plain = post(fake_server, http, "/v1/messages/count_tokens", messages=messages).json()
    assert plain == {"input_tokens": plain["input_tokens"]}
    counted = post(
        fake_server, http, "/v1/messages/count_tokens", messages=messages, context_management={"edits": [edit]}
    ).json()
    assert counted["context_management"] == {"original_input_tokens": plain["input_tokens"]}
    assert counted["input_tokens"] < plain["input_tokens"]
    created = post(fake_server, http, max_tokens=16, messages=messages, context_management={"edits": [edit]}).json()
    assert created["usage"]["input_tokens"] == counted["input_tokens"]
