"""Code execution through the Messages API: a scripted conversation on the fake engine,
checked block by block and event by event, through the official SDK and raw SSE.

The fake engine answers the directive in the last user turn, and after a tool call that
turn is the tool's result: a command that prints ``#say:...`` scripts the model's next step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from conftest import (
    LiveServer,
    assert_error,
    client_fixture,
    fake_settings,
    running,
    server_fixture,
    streamed_tool_turn,
)

BETAS = ["code-execution-2025-08-25"]
TOOL = {"type": "code_execution_20250825", "name": "code_execution"}


def call(command: str, before: str = "") -> str:
    """A user turn whose fake reply is ``before`` and then a bash_code_execution call."""
    arguments = json.dumps({"name": "bash_code_execution", "arguments": {"command": command}})
    return f"#say:{before}<tool_call>\\n{arguments}\\n</tool_call>"


live = server_fixture(
    "live", "code-execution", code_execution=True, code_execution_timeout=2.0, server_tool_max_steps=3
)


client = client_fixture()


def create(client: anthropic.Anthropic, content: Any, **extra: Any) -> Any:
    messages = extra.pop("messages", [{"role": "user", "content": content}])
    return client.beta.messages.create(
        model="claude-sonnet-4-5", max_tokens=400, betas=BETAS, tools=[TOOL], messages=messages, **extra
    )


def test_scripted_conversation_blocks(client: anthropic.Anthropic) -> None:
    command = "echo '#say:The answer is 42.'; echo data > out.txt"
    message = create(client, call(command, "Let me run it."))
    assert [b.type for b in message.content] == [
        "text",
        "server_tool_use",
        "bash_code_execution_tool_result",
        "text",
    ]
    text, use, result, answer = message.content
    assert text.text == "Let me run it."
    assert use.id.startswith("srvtoolu_") and use.name == "bash_code_execution" and use.input == {"command": command}
    assert result.tool_use_id == use.id
    assert result.content.type == "bash_code_execution_result"
    assert (result.content.stdout, result.content.stderr, result.content.return_code) == (
        "#say:The answer is 42.\n",
        "",
        0,
    )
    assert answer.text == "The answer is 42."
    assert message.stop_reason == "end_turn"
    assert message.container is not None and message.container.id.startswith("container_")
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 0

    # The file the command wrote is a downloadable File.
    [output] = result.content.content
    assert output.type == "bash_code_execution_output"
    meta = client.beta.files.retrieve_metadata(output.file_id)
    assert meta.filename == "out.txt" and meta.downloadable is True
    assert client.beta.files.download(output.file_id).read() == b"data\n"

    # The container is reused: its files are still there in the next request.
    again = create(client, call("cat out.txt"), container=message.container.id)
    assert again.container.id == message.container.id
    assert again.container.expires_at == message.container.expires_at
    assert again.content[1].content.stdout == "data\n"


def test_stream_event_sequence(live: LiveServer, client: anthropic.Anthropic) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 400,
        "stream": True,
        "tools": [TOOL],
        "messages": [{"role": "user", "content": call("echo '#say:Done.'", "Running.")}],
    }
    headers = live.headers(**{"anthropic-beta": BETAS[0]})
    events, use = streamed_tool_turn(live, body, "bash_code_execution", "bash_code_execution_tool_result", headers)
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["container"] is None
    partial = "".join(
        data["delta"]["partial_json"]
        for name, data in events
        if data.get("index") == 1 and name == "content_block_delta"
    )
    assert json.loads(partial) == {"command": "echo '#say:Done.'"}
    result = next(data["content_block"] for _, data in events if data.get("index") == 2)
    assert result == {
        "type": "bash_code_execution_tool_result",
        "tool_use_id": use["id"],
        "content": {
            "type": "bash_code_execution_result",
            "stdout": "#say:Done.\n",
            "stderr": "",
            "return_code": 0,
            "content": [],
        },
    }
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["delta"]["container"]["id"].startswith("container_")
    assert delta["usage"]["server_tool_use"] == {"web_search_requests": 0, "web_fetch_requests": 0}
    assert delta["usage"]["input_tokens"] > start["usage"]["input_tokens"]  # both steps read their prompt
    counted = client.beta.messages.count_tokens(
        model="claude-sonnet-4-5", betas=BETAS, tools=[TOOL], messages=body["messages"]
    )
    assert counted.input_tokens == start["usage"]["input_tokens"]  # the first step's prompt, exactly

    # The SDK's stream accumulates the same message.
    with client.beta.messages.stream(
        model="claude-sonnet-4-5", max_tokens=400, betas=BETAS, tools=[TOOL], messages=body["messages"]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "server_tool_use", "bash_code_execution_tool_result", "text"]
    assert final.content[1].input == {"command": "echo '#say:Done.'"} and final.content[3].text == "Done."
    assert final.container is not None and final.stop_reason == "end_turn"


def test_pause_turn_and_continuation(client: anthropic.Anthropic, tmp_path: Path) -> None:
    # A file (mounted read-only from the Files API) whose contents call the tool again: the
    # model loops until the step limit (3 on this server) pauses the turn.
    again = call("cat /mnt/uploads/loop.txt", "again").replace("\\n", "")
    uploaded = client.beta.files.upload(file=("loop.txt", again.encode(), "text/plain"))
    content = [
        {"type": "container_upload", "file_id": uploaded.id},
        {"type": "text", "text": call("cat /mnt/uploads/loop.txt")},
    ]
    first = create(client, content)
    assert first.stop_reason == "pause_turn"
    kinds = [b.type for b in first.content]
    assert kinds.count("server_tool_use") == 3 and kinds[-1] == "bash_code_execution_tool_result"
    assert first.content[1].content.stdout == again

    # Sending the turn back continues it (in the same container).
    messages = [{"role": "user", "content": content}, {"role": "assistant", "content": first.content}]
    second = create(client, None, messages=messages, container=first.container.id)
    assert second.content[0].type in ("text", "server_tool_use")
    assert second.stop_reason == "pause_turn" and second.container.id == first.container.id


def test_tool_errors_are_results(client: anthropic.Anthropic) -> None:
    message = create(client, call("sleep 30"))
    assert message.content[1].content.type == "bash_code_execution_tool_result_error"
    assert message.content[1].content.error_code == "execution_time_exceeded"
    view = json.dumps({"name": "text_editor_code_execution", "arguments": {"command": "view", "path": "missing.txt"}})
    message = create(client, f"#say:<tool_call>{view}</tool_call>")
    assert message.content[1].type == "text_editor_code_execution_tool_result"
    assert message.content[1].content.error_code == "file_not_found"


def test_forced_tool_choice_and_python(client: anthropic.Anthropic) -> None:
    code = json.dumps({"name": "code_execution", "arguments": {"code": "print('#say:' + str(6 * 7))"}})
    message = client.beta.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=400,
        betas=["code-execution-2025-05-22"],
        tools=[{"type": "code_execution_20250522", "name": "code_execution"}],
        tool_choice={"type": "tool", "name": "code_execution"},
        messages=[{"role": "user", "content": f"#say:<tool_call>{code}</tool_call>"}],
    )
    assert [b.type for b in message.content] == ["server_tool_use", "code_execution_tool_result", "text"]
    assert message.content[1].content.stdout == "#say:42\n" and message.content[2].text == "42"


def test_unknown_container_and_disabled_server(live: LiveServer, fake_server: LiveServer) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 50,
        "tools": [TOOL],
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = httpx.post(
        f"{live.base_url}/v1/messages", json={**body, "container": "container_01nope"}, headers=live.headers()
    )
    assert_error(
        response, 400, "invalid_request_error", "container: container `container_01nope` was not found or has expired"
    )
    plain = {**body, "tools": None, "messages": [{"role": "user", "content": "#say:plain"}]}
    answer = httpx.post(f"{live.base_url}/v1/messages", json=plain, headers=live.headers()).json()
    assert answer["content"] == [{"type": "text", "text": "plain", "citations": None}]  # the plain path
    assert answer["container"] is None and answer["usage"]["server_tool_use"] is None
    off = httpx.post(f"{fake_server.base_url}/v1/messages", json=body, headers=fake_server.headers())
    assert off.status_code == 400 and "server tool" in off.json()["error"]["message"]


def test_models_api_says_code_execution_is_on(client: anthropic.Anthropic) -> None:
    for model in [client.models.retrieve("claude-sonnet-4-5"), *client.models.list()]:
        capabilities = model.to_dict()["capabilities"]
        assert capabilities["server_tools"] == {
            "supported": True,
            "code_execution": {"supported": True},
            "web_search": {"supported": False},
        }
        assert capabilities["code_execution"] == {"supported": False}  # code calling tools: not offered


def test_containers_belong_to_the_data_directory(
    live: LiveServer, client: anthropic.Anthropic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second replica knows a container only when it shares the data directory (docs/server-tools.md)."""
    made = create(client, call("echo kept > kept.txt"))
    assert made.container is not None
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 400,
        "tools": [TOOL],
        "container": made.container.id,
        "messages": [{"role": "user", "content": call("cat kept.txt")}],
    }
    data_dir = live.app.state.epistula.settings.data_dir
    for replica_dir, shared in ((tmp_path_factory.mktemp("other-replica"), False), (data_dir, True)):
        with running(fake_settings(replica_dir, code_execution=True, code_execution_timeout=2.0)) as replica:
            response = httpx.post(f"{replica.base_url}/v1/messages", json=body, headers=replica.headers(), timeout=60)
        if shared:
            assert response.status_code == 200 and response.json()["content"][1]["content"]["stdout"] == "kept\n"
        else:
            assert_error(
                response,
                400,
                "invalid_request_error",
                f"container: container `{made.container.id}` was not found or has expired",
            )
