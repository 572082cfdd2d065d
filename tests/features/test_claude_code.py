"""Claude Code's exact request shapes, streaming and not, and prompt prefix stability."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from catalogs import fake_catalog
from epistula.generation.prepare import tokenize_prompt
from epistula.models.catalog import Catalog
from epistula.protocol.messages import MessageCreateParams

from . import claude_code as cc
from .conftest import KEY

BASH_CALL = '<tool_call>\\n{"name": "Bash", "arguments": {"command": "ls", "description": "List files"}}\\n</tool_call>'


def _post(url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/messages?beta=true", json=body, headers={**cc.HEADERS, "x-api-key": KEY, **headers}, timeout=30
    )


def _events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("stream", [True, False])
def test_claude_code_tool_round_trip(fake_url: str, stream: bool) -> None:
    first = cc.first_turn(prompt=f"#say:I'll run a command to check.{BASH_CALL}")
    first["stream"] = stream
    r1 = _post(fake_url, first)
    assert r1.status_code == 200, r1.text
    if stream:
        events = _events(r1)
        assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
        starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
        tool = next(b for b in starts if b["type"] == "tool_use")
        partial = "".join(
            e["delta"]["partial_json"]
            for e in events
            if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
        )
        content = [
            {"type": "text", "text": "I'll run a command to check."},
            {"type": "tool_use", "id": tool["id"], "name": "Bash", "input": json.loads(partial)},
        ]
        assert events[-2]["delta"]["stop_reason"] == "tool_use"
    else:
        message = r1.json()
        assert message["stop_reason"] == "tool_use"
        content = message["content"]
        tool = content[-1]
    assert tool["name"] == "Bash"
    second = cc.second_turn(first, content, tool["id"])
    second["messages"][-1]["content"][0]["content"] = "#say:Here are the files."
    r2 = _post(fake_url, second)
    assert r2.status_code == 200, r2.text
    text = (
        "".join(e["delta"].get("text", "") for e in _events(r2) if e["type"] == "content_block_delta")
        if stream
        else next(b["text"] for b in r2.json()["content"] if b["type"] == "text")
    )
    assert text == "Here are the files."


def test_claude_code_bearer_and_api_key_together(fake_url: str) -> None:
    body = cc.first_turn(prompt="#say:hi")
    r = _post(fake_url, body, authorization=f"Bearer {KEY}")
    assert r.status_code == 200


def _catalog() -> Catalog:
    catalog = fake_catalog(max_output_tokens=128000)
    catalog.alias("claude-opus-5-5", "fake")
    return catalog


def _prompt_ids(catalog: Catalog, body: dict[str, Any]) -> tuple[int, ...]:
    params = MessageCreateParams.model_validate({k: v for k, v in body.items() if k != "stream"})
    return tokenize_prompt(params, catalog.resolve(params.model)).ids


def test_turn_two_prompt_extends_turn_one_token_for_token() -> None:
    """Prefix caching depends on it: the per-request billing hash, the inline system message
    re-sent as a string, and the echoed tool call must not change earlier tokens."""
    catalog = _catalog()
    engine = catalog.resolve("fake").engine
    first = cc.first_turn("4a1f2")
    # Claude Code asks for thinking, so the fake model is made to think and the echo carries
    # the (display: omitted) thinking block.
    reply = [
        {"type": "thinking", "thinking": "", "signature": "c2ln"},
        {"type": "text", "text": "I'll run a command to check."},
        {
            "type": "tool_use",
            "id": "toolu_01abc",
            "name": "Bash",
            "input": {"command": "ls", "description": "List files in the current directory"},
        },
    ]
    second = cc.second_turn(first, reply, "toolu_01abc", cch="9c3d0")
    ids1 = _prompt_ids(catalog, first)
    ids2 = _prompt_ids(catalog, second)
    assert ids2[: len(ids1)] == ids1
    # ...and what lies between is exactly the model's own reply as the template renders it.
    middle = engine.detokenize(list(ids2[len(ids1) :]))
    assert middle.startswith("</think>\nI'll run a command to check.\n<tool_call>")


def test_billing_header_does_not_reach_the_prompt() -> None:
    catalog = _catalog()
    ids_a = _prompt_ids(catalog, cc.first_turn("aaaaa"))
    ids_b = _prompt_ids(catalog, cc.first_turn("bbbbb"))
    assert ids_a == ids_b


@pytest.mark.parametrize("stream", [True, False])
def test_recorded_bare_request_is_served(fake_url: str, stream: bool) -> None:
    """The exact ``claude --bare -p`` body of Claude Code 2.1.330 (claude_code_bare_request.json),
    answered with a ``Bash`` call the way Claude Code parses it."""
    body = cc.bare_turn(f"#say:{BASH_CALL}")
    body["stream"] = stream
    response = _post(fake_url, body)
    assert response.status_code == 200, response.text
    if stream:
        events = _events(response)
        tool = next(
            e["content_block"]
            for e in events
            if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use"
        )
        partial = "".join(
            e["delta"]["partial_json"]
            for e in events
            if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
        )
        assert (tool["name"], json.loads(partial)) == ("Bash", {"command": "ls", "description": "List files"})
    else:
        message = response.json()
        assert message["stop_reason"] == "tool_use"
        assert message["content"][-1]["input"] == {"command": "ls", "description": "List files"}
