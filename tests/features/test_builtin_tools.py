"""Anthropic-defined tools through the official SDK: client tools (bash, text editor, memory,
computer) work like custom tools with their documented schemas; server tools get a precise 400."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import jsonschema  # type: ignore[import-untyped]
import pytest

from catalogs import fake_catalog
from conftest import LiveServer
from epistula.generation.prepare import tokenize_prompt
from epistula.prompting.builtin_tools import CLIENT_TOOLS, as_custom_tool
from epistula.protocol.messages import MessageCreateParams
from epistula.protocol.tools import VersionedTool

BASH = {"type": "bash_20250124", "name": "bash"}
EDITOR = {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 10000}
MEMORY = {"type": "memory_20250818", "name": "memory"}
COMPUTER = {"type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768}


def _call(name: str, arguments: dict[str, Any]) -> str:
    return "#say:<tool_call>\\n" + json.dumps({"name": name, "arguments": arguments}) + "\\n</tool_call>"


def _ask_with_bash(client: anthropic.Anthropic, messages: list[Any]) -> anthropic.types.Message:
    return client.messages.create(model="claude-sonnet-4-6", max_tokens=200, tools=[BASH], messages=messages)  # type: ignore[list-item]


def test_bash_tool_round_trip(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": _call("bash", {"command": "ls -la"})}]
    first = _ask_with_bash(client, messages)
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.name == "bash" and call.input == {"command": "ls -la"}
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "#say:Two files."}]},
    ]
    second = _ask_with_bash(client, messages)
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text == "Two files."


def test_text_editor_call_streams_like_a_custom_tool(client: anthropic.Anthropic) -> None:
    arguments = {"command": "str_replace", "path": "/src/a.py", "old_str": "x = 1", "new_str": "x = 2"}
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=300,
        tools=[EDITOR],  # type: ignore[list-item]
        messages=[{"role": "user", "content": _call("str_replace_based_edit_tool", arguments)}],
    ) as stream:
        final = stream.get_final_message()
    call = final.content[-1]
    assert call.type == "tool_use" and call.name == "str_replace_based_edit_tool"
    assert call.input == arguments


def test_beta_memory_tool_and_forced_choice_by_its_fixed_name(client: anthropic.Anthropic) -> None:
    arguments = {"command": "view", "path": "/memories"}
    message = client.beta.messages.create(  # type: ignore[call-overload]
        model="claude-sonnet-4-6",
        max_tokens=200,
        tools=[MEMORY],
        tool_choice={"type": "tool", "name": "memory"},
        messages=[{"role": "user", "content": _call("memory", arguments)}],
        betas=["context-management-2025-06-27"],
    )
    assert message.content[-1].type == "tool_use" and message.content[-1].input == arguments


def _prompt_text(tools: list[dict[str, Any]]) -> str:
    catalog = fake_catalog()
    params = MessageCreateParams.model_validate(
        {"model": "fake", "max_tokens": 10, "tools": tools, "messages": [{"role": "user", "content": "hi"}]}
    )
    model = catalog.resolve(params.model)
    return model.engine.detokenize(list(tokenize_prompt(params, model).ids))


def test_the_model_is_shown_the_documented_schemas() -> None:
    text = _prompt_text([BASH, EDITOR, MEMORY, COMPUTER])
    for name in ("bash", "str_replace_based_edit_tool", "memory", "computer"):
        assert f'"name": "{name}"' in text
    for field in ('"old_str"', '"insert_line"', '"view_range"', '"old_path"', '"scroll_direction"'):
        assert field in text
    assert '"maximum": 1023' in text  # computer coordinates bounded by the declared display


@pytest.mark.parametrize(
    ("tool", "fragment"),
    [
        (
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            "tools.0: `web_search_20250305` is a server tool",
        ),
        ({"type": "web_fetch_20250910", "name": "web_fetch"}, "`web_fetch_20250910` is a server tool"),
        ({"type": "code_execution_20250825", "name": "code_execution"}, "`code_execution_20250825` is a server tool"),
        ({"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"}, "is a server tool"),
        ({"type": "bash_20250124", "name": "shell"}, "tools.0.bash_20250124.name: Input should be 'bash'"),
        (
            {"type": "computer_20250124", "name": "computer", "display_height_px": 768},
            "tools.0.computer_20250124.display_width_px: Field required",
        ),
        ({"type": "computer_toolset_20260801"}, "toolset `computer_toolset_20260801` is not supported"),
        ({"type": "bash_20990101", "name": "bash"}, "`bash_20990101` is not supported by epistula"),
    ],
)
def test_unsupported_anthropic_tools_get_a_precise_400(
    client: anthropic.Anthropic, tool: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            tools=[tool],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "hi"}],
        )
    assert info.value.status_code == 400
    assert fragment in info.value.body["error"]["message"]  # type: ignore[index]


def test_fixed_names_collide_with_custom_tools(client: anthropic.Anthropic) -> None:
    custom = {"name": "bash", "input_schema": {"type": "object"}}
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            tools=[BASH, custom],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "hi"}],
        )
    assert "Duplicate name: `bash`" in info.value.body["error"]["message"]  # type: ignore[index]


@pytest.mark.model
@pytest.mark.parametrize(
    ("tool", "prompt"),
    [
        (BASH, "List the project files."),
        (EDITOR, "Fix the typo in /tmp/notes.txt"),
        (MEMORY, "Remember that I like tea."),
        (COMPUTER, "Open the browser."),
    ],
    ids=["bash", "text_editor", "memory", "computer"],
)
def test_forced_calls_of_client_tools_validate_on_the_real_model(
    model_server: LiveServer, tool: dict[str, Any], prompt: str
) -> None:
    """Grammar-constrained decoding on SmolLM2-135M: the input is valid for the tool's
    documented schema, whatever the model would have written."""
    name = CLIENT_TOOLS[tool["type"]].name
    custom = as_custom_tool(VersionedTool.model_validate(tool))
    assert custom is not None
    schema = custom.input_schema.model_dump(exclude_none=True)
    message = model_server.client().messages.create(  # type: ignore[call-overload]
        model="claude-haiku-4-5",
        max_tokens=200,
        tools=[tool],
        tool_choice={"type": "tool", "name": name, "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": prompt}],
    )
    calls = [b for b in message.content if b.type == "tool_use"]
    assert message.stop_reason == "tool_use" and len(calls) == 1, message
    assert calls[0].name == name
    jsonschema.Draft202012Validator(schema).validate(calls[0].input)
