"""Multi-turn agent conversations, Claude Code's billing header, and batches: the cache
follows the conversation exactly as a client replays it (fake engine)."""

from __future__ import annotations

import copy
import json
from typing import Any

import anthropic
import httpx

from conftest import MODEL, LiveServer
from epistula.generation.prepare import tokenize_prompt
from epistula.protocol.messages import MessageCreateParams
from features import claude_code as cc

from .conftest import ManualClock, ask, cached_system, document, prompt_tokens, total

BASH = {
    "name": "Bash",
    "description": "Run a shell command.",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
}
CC = {"type": "ephemeral"}


def _call(command: str) -> str:
    return '<tool_call>\\n{"name": "Bash", "arguments": {"command": "' + command + '"}}\\n</tool_call>'


SCRIPT = [  # what each user turn says; the fake engine replies with the #say text
    "Tidy up this repository. #say:I'll look around first." + _call("ls"),
    "main.py\nnotes.txt\n#say:" + _call("cat notes.txt"),
    "TODO: delete notes.txt\n#say:Following the note." + _call("rm notes.txt"),
    "(no output)\n#say:Done: notes.txt is gone.",
]


def _with_breakpoint_on_last_block(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claude Code's habit: only the newest block carries the message breakpoint."""
    out = copy.deepcopy(messages)
    for message in out:
        if isinstance(message["content"], list):
            for block in message["content"]:
                block.pop("cache_control", None)
    out[-1]["content"][-1]["cache_control"] = CC
    return out


def _prompt_ids(live: LiveServer, body: dict[str, Any]) -> tuple[int, ...]:
    params = MessageCreateParams.model_validate(body)
    return tokenize_prompt(params, live.state.catalog.resolve(params.model)).ids


def test_replayed_agent_conversation_reads_each_previous_turn(
    cache_server: LiveServer, client: anthropic.Anthropic, clock: ManualClock
) -> None:
    system = cached_system(document(2500))
    messages: list[dict[str, Any]] = []
    previous_ids: tuple[int, ...] = ()
    previous_cached = 0
    for turn, say in enumerate(SCRIPT):
        if turn == 0:
            messages.append({"role": "user", "content": [{"type": "text", "text": say}]})
        else:
            tool_id = messages[-1]["content"][-1]["id"]
            messages.append(
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": say}]}
            )
        body = {
            "model": MODEL,
            "max_tokens": 200,
            "system": system,
            "tools": [BASH],
            "messages": _with_breakpoint_on_last_block(messages),
        }
        reply = client.messages.create(**body)
        usage = reply.usage
        ids = _prompt_ids(cache_server, body)
        # the prompt of turn N+1 extends turn N's token for token ...
        assert ids[: len(previous_ids)] == previous_ids
        assert total(usage) == len(ids) == prompt_tokens(client, system=system, tools=[BASH], messages=body["messages"])
        # ... so it reads everything turn N cached and writes only the new turn
        assert usage.cache_read_input_tokens == previous_cached
        assert usage.cache_creation_input_tokens > 0
        previous_cached = usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        assert previous_cached > len(previous_ids)  # the new breakpoint lies past the old prompt's end
        previous_ids = ids
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]})
        if turn < len(SCRIPT) - 1:
            assert reply.stop_reason == "tool_use", reply
    assert reply.content[0].text == "Done: notes.txt is gone."  # type: ignore[union-attr]


def test_lookback_finds_entries_at_most_twenty_blocks_back(client: anthropic.Anthropic) -> None:
    head = [{"type": "text", "text": document(1500), "cache_control": CC}]
    written = client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": head}]).usage
    near = [{"type": "text", "text": head[0]["text"]}] + [{"type": "text", "text": f"note {i}"} for i in range(20)]
    near[-1]["cache_control"] = CC  # the entry's block is exactly 20 blocks back
    far = [{"type": "text", "text": head[0]["text"]}] + [{"type": "text", "text": f"memo {i}"} for i in range(21)]
    far[-1]["cache_control"] = CC  # 21 blocks back: outside the window
    far_usage = client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": far}]).usage
    assert far_usage.cache_read_input_tokens == 0
    near_usage = client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": near}]).usage
    assert near_usage.cache_read_input_tokens == written.cache_creation_input_tokens


def _post_claude_code(live: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    body = {**body, "stream": False}
    headers = {**cc.HEADERS, "x-api-key": live.api_key}
    r = httpx.post(f"{live.base_url}/v1/messages?beta=true", json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_claude_code_billing_hash_does_not_defeat_the_cache(cache_server: LiveServer, clock: ManualClock) -> None:
    first = _post_claude_code(cache_server, cc.first_turn("4a1f2", prompt="#say:hi"))["usage"]
    written = first["cache_creation_input_tokens"]
    assert written > 1024 and first["cache_read_input_tokens"] == 0
    again = _post_claude_code(cache_server, cc.first_turn("e07b9", prompt="#say:hi"))["usage"]  # a new cch= hash
    assert again["cache_read_input_tokens"] == written
    assert again["cache_creation_input_tokens"] == 0


def test_billing_header_in_a_string_or_joined_block_is_dropped_too(client: anthropic.Anthropic) -> None:
    doc = document(1500)
    variants = [
        f"x-anthropic-billing-header: cc_version=2.1.330.{h}; cc_entrypoint=sdk-cli; cch={h};\n{doc}"
        for h in ("11111", "22222")
    ]
    as_blocks = [[{"type": "text", "text": v, "cache_control": CC}] for v in variants]
    written = ask(client, as_blocks[0]).usage.cache_creation_input_tokens
    assert written > 1500
    assert ask(client, as_blocks[1]).usage.cache_read_input_tokens == written  # the text after the line is kept
    plain = [{"type": "text", "text": doc, "cache_control": CC}]
    assert ask(client, plain).usage.cache_read_input_tokens == written  # ... and is all that reaches the model
    counts = {prompt_tokens(client, system=v, messages=[{"role": "user", "content": "hi"}]) for v in variants}
    assert counts == {prompt_tokens(client, system=doc, messages=[{"role": "user", "content": "hi"}])}


def test_batch_results_carry_cache_usage(client: anthropic.Anthropic) -> None:
    from batches.support import wait_ended

    system = cached_system(document(2000))
    written = ask(client, system, "#say:warm").usage.cache_creation_input_tokens
    requests = [
        {
            "custom_id": f"q{i}",
            "params": {
                "model": MODEL,
                "max_tokens": 16,
                "system": system,
                "messages": [{"role": "user", "content": f"#say:answer {i}"}],
            },
        }
        for i in range(2)
    ]
    batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    wait_ended(client, batch.id)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    for i in range(2):
        result = results[f"q{i}"]
        assert result.type == "succeeded", result
        usage = result.message.usage
        assert usage.service_tier == "batch"
        assert usage.cache_read_input_tokens == written
        assert usage.cache_creation_input_tokens == 0
        body = json.loads(json.dumps(requests[i]["params"]))
        assert total(usage) == prompt_tokens(client, system=body["system"], messages=body["messages"])
