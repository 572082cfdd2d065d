"""The message-threads beta (``thread``, server-held history) is not implemented: a request
with ``thread`` gets the documented ``thread_unsupported_request`` 400, whose ``details`` let the
SDK's thread-aware helpers fall back to sending the full history by themselves."""

from __future__ import annotations

import anthropic
import pytest

from .weather import run_weather_agent


def test_thread_field_gets_the_documented_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"thread": {"type": "new"}},
        )
    error = info.value.body["error"]  # type: ignore[index]
    assert error["details"] == {"error_code": "thread_unsupported_request", "unsupported": ["thread"]}


def test_tool_runner_with_default_threading_falls_back_to_full_history(client: anthropic.Anthropic) -> None:
    """No ``thread=False`` needed: the runner asks for a thread, reads the rejection's
    ``details`` and carries on unthreaded (the SDK's ``continue_unthreaded`` behaviour)."""
    calls, final = run_weather_agent(client, "#say:It is sunny.")
    assert calls == ["Paris"]
    assert final.stop_reason == "end_turn"
    assert final.content[0].type == "text" and final.content[0].text == "It is sunny."


def test_thread_helper_with_continue_unthreaded(client: anthropic.Anthropic) -> None:
    thread = client.beta.messages.thread(
        model="claude-sonnet-4-6",
        max_tokens=50,
        unsupported_request_behavior="continue_unthreaded",
    )
    thread.append({"role": "user", "content": "#say:first"})
    first = thread.send()
    thread.append({"role": "user", "content": "#say:second"})
    second = thread.send()
    assert [first.content[0].text, second.content[0].text] == ["first", "second"]  # type: ignore[union-attr]
    assert len(thread.messages) == 4  # the full history, kept client-side
