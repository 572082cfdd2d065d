"""Code execution with the real default model (SmolLM2-135M): ``tool_choice`` forces the
call, so the grammar makes the model write a ``bash_code_execution`` call whatever it
would have said; epistula runs it in the sandbox and, with a one-call step limit, the
turn pauses right after the result."""

from __future__ import annotations

import pytest

from conftest import MODEL_STARTUP, V2023, LiveServer, model_settings, server_fixture

pytestmark = pytest.mark.model


live = server_fixture(
    "live",
    "code-execution-model",
    model_settings,
    startup_timeout=MODEL_STARTUP,
    n_seq_max=2,
    code_execution=True,
    code_execution_timeout=5.0,
    server_tool_max_steps=1,
)


def test_forced_code_execution_call(live: LiveServer) -> None:
    client = live.client(version=V2023, timeout=120.0)
    with client.beta.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=300,
        extra_body={"temperature": 0.0},  # greedy: the same command every run
        betas=["code-execution-2025-08-25"],
        tools=[{"type": "code_execution_20250825", "name": "code_execution"}],
        tool_choice={"type": "tool", "name": "code_execution"},
        messages=[{"role": "user", "content": "Run the shell command `echo hello` and tell me what it prints."}],
    ) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["server_tool_use", "bash_code_execution_tool_result"]
    use, result = message.content
    assert use.type == "server_tool_use" and use.name == "bash_code_execution" and use.id.startswith("srvtoolu_")
    assert set(use.input) == {"command"} and isinstance(use.input["command"], str)
    assert result.type == "bash_code_execution_tool_result" and result.tool_use_id == use.id
    # Whatever the model wrote ran (or was stopped) in the sandbox: a result or a documented error.
    assert result.content.type in ("bash_code_execution_result", "bash_code_execution_tool_result_error")
    assert message.stop_reason == "pause_turn"
    assert message.container is not None and message.container.id.startswith("container_")
