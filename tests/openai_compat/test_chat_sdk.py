"""``POST /v1/chat/completions`` through the official ``openai`` SDK (and raw HTTP where the
SDK hides the wire), on the fake engine over a real socket.

The fake engine's reply is scripted by the last user turn (``#say:``) or echoes it
(``You said: <turn>``); its tokenizer counts one token per byte, so ``prompt_tokens``
shows exactly what conversation the request was translated into.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from conftest import API_KEY, MODEL, LiveServer, chatml, fake_settings, fake_tokens, running, wait_until
from epistula.config import RateLimitConfig

from .conftest import openai_client

CHAT_ID = re.compile(r"chatcmpl-[A-Za-z0-9]{10,}")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "description": "Local time"}}


def call(name: str, args: dict[str, Any]) -> str:
    """Hermes-style markup the fake engine is told to write; the server parses it into a tool call."""
    return "<tool_call>" + json.dumps({"name": name, "arguments": args}) + "</tool_call>"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def raw_post(live: LiveServer, payload: dict[str, Any], key: str = API_KEY) -> httpx.Response:
    return httpx.post(
        live.base_url + "/v1/chat/completions", json=payload, headers={"authorization": f"Bearer {key}"}, timeout=60
    )


def assert_openai_error(
    resp: httpx.Response, status: int, error_type: str, *, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}`` and nothing else."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    payload = resp.json()
    assert set(payload) == {"error"}, payload
    error: dict[str, Any] = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["type"] == error_type and error["message"], error
    assert error["param"] == param, error
    assert resp.headers["x-request-id"] == resp.headers["request-id"]
    return error


# ---------------------------------------------------------------- text


def test_create_returns_a_chat_completion(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(model=MODEL, messages=[user("#say:Hello there")])
    completion = raw.parse()
    assert CHAT_ID.fullmatch(completion.id), completion.id
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert completion.created > 0
    [choice] = completion.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello there"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == fake_tokens(chatml([("user", "#say:Hello there")]))
    assert usage.completion_tokens == len(b"Hello there")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["openai-version"] == "2020-10-01"
    assert raw.headers["x-request-id"] == raw.headers["request-id"]
    assert raw.request_id == raw.headers["request-id"]


def test_system_and_developer_messages_are_hoisted_and_joined(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            user("first"),
            {"role": "assistant", "content": "ok"},
            {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
            user("#say:done"),
        ],
    )
    assert completion.choices[0].message.content == "done"
    expected = chatml(
        [("system", "Be brief.\nBe kind."), ("user", "first"), ("assistant", "ok"), ("user", "#say:done")]
    )
    assert completion.usage is not None and completion.usage.prompt_tokens == fake_tokens(expected)


def test_content_parts_and_ignored_parts(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "first"},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "text", "text": "second"},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "You said: first\nsecond"


def test_unsupported_fields_are_ignored(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model=MODEL,
        messages=[user("#say:fine")],
        seed=7,
        logprobs=False,
        presence_penalty=0.5,
        frequency_penalty=0.1,
        user="someone",
        metadata={"team": "a"},
        store=False,
        service_tier="auto",
        reasoning_effort="low",
        temperature=1.7,  # clamped to 1, as on the Claude API
        top_p=0.9,
        n=1,
    )
    assert completion.choices[0].message.content == "fine"


def test_max_tokens_and_max_completion_tokens(oai: openai.OpenAI) -> None:
    for limit in ({"max_tokens": 4}, {"max_completion_tokens": 4}, {"max_tokens": 99, "max_completion_tokens": 4}):
        completion = oai.chat.completions.create(model=MODEL, messages=[user("#say:abcdefghij")], **limit)  # type: ignore[arg-type]
        assert completion.choices[0].message.content == "abcd", limit
        assert completion.choices[0].finish_reason == "length"
        assert completion.usage is not None and completion.usage.completion_tokens == 4


def test_stop(oai: openai.OpenAI) -> None:
    one = oai.chat.completions.create(model=MODEL, messages=[user("#say:one two STOP three")], stop="STOP")
    assert one.choices[0].message.content == "one two "
    assert one.choices[0].finish_reason == "stop"
    many = oai.chat.completions.create(model=MODEL, messages=[user("#say:a b c d")], stop=["  ", "c", "\n"])
    assert many.choices[0].message.content == "a b "
    # Whitespace-only sequences are dropped, as on the Claude API.
    spaces = oai.chat.completions.create(model=MODEL, messages=[user("#say:a b")], stop=[" "])
    assert spaces.choices[0].message.content == "a b"


# ---------------------------------------------------------------- streaming


def test_streaming(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model=MODEL, messages=[user("#say:Hello there")], stream=True))
    assert len({c.id for c in chunks}) == 1 and CHAT_ID.fullmatch(chunks[0].id)
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello there"
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert all(c.usage is None for c in chunks)


def test_streaming_with_include_usage(oai: openai.OpenAI) -> None:
    messages = [user("#say:Hello there")]
    chunks = list(
        oai.chat.completions.create(model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True})
    )
    last = chunks[-1]
    assert last.choices == []
    plain = oai.chat.completions.create(model=MODEL, messages=messages)
    assert last.usage == plain.usage
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])


def _stream_frames(server: LiveServer, messages: list[dict[str, Any]]) -> list[str]:
    """The raw SSE frames of a streamed chat completion (status 200, SSE content type)."""
    payload = {"model": MODEL, "messages": messages, "stream": True}
    url = server.base_url + "/v1/chat/completions"
    with httpx.stream("POST", url, json=payload, headers={"authorization": f"Bearer {API_KEY}"}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
        return [f for f in resp.read().decode().split("\n\n") if f]


def test_stream_wire_format(fake_server: LiveServer) -> None:
    frames = _stream_frames(fake_server, [user("#say:hi")])
    assert all(f.startswith("data: ") and "\n" not in f for f in frames), frames
    assert frames[-1] == "data: [DONE]"
    chunks = [json.loads(f[len("data: ") :]) for f in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[1]["choices"][0]["delta"] == {"content": "h"}  # deltas name only what changed


def test_failure_after_the_stream_started(oai: openai.OpenAI, fake_server: LiveServer) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in oai.chat.completions.create(
            model=MODEL, messages=[user("#fail-after:3\n#say:Hello world")], stream=True
        ):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Hel"
    assert raised.value.body["type"] == "api_error"  # type: ignore[index]
    frames = _stream_frames(fake_server, [user("#fail-after:2\n#say:Hello")])
    assert "data: [DONE]" not in frames
    assert set(json.loads(frames[-1][len("data: ") :])) == {"error"}


# ---------------------------------------------------------------- tools


def test_tool_call(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model=MODEL,
        messages=[user("#say:Let me check. " + call("get_weather", {"city": "Paris"}))],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check. "
    [tool_call] = choice.message.tool_calls or []
    assert tool_call.type == "function"
    assert tool_call.id.startswith("toolu_")
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}


def test_only_offered_tools_are_called(oai: openai.OpenAI) -> None:
    text = call("launch_rockets", {"count": 3})
    completion = oai.chat.completions.create(model=MODEL, messages=[user("#say:" + text)], tools=[WEATHER])  # type: ignore[list-item]
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].message.content == text
    assert completion.choices[0].finish_reason == "stop"


def test_streamed_tool_call(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model=MODEL,
            messages=[user("#say:" + call("get_weather", {"city": "Oslo"}) + call("get_time", {}))],
            tools=[WEATHER, TIME],  # type: ignore[list-item]
            stream=True,
        )
    )
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    starts = [d for d in deltas if d.id is not None]
    assert [(d.index, d.type, d.function and d.function.name) for d in starts] == [
        (0, "function", "get_weather"),
        (1, "function", "get_time"),
    ]
    arguments = {i: "".join(d.function.arguments or "" for d in deltas if d.index == i and d.function) for i in (0, 1)}
    assert json.loads(arguments[0]) == {"city": "Oslo"} and json.loads(arguments[1]) == {}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_results_round_trip(oai: openai.OpenAI) -> None:
    """Two parallel calls, their two ``tool`` messages (merged into one turn of results),
    and the model's answer, which the fake engine reads from the last result."""
    tools = [WEATHER, TIME]
    messages: list[Any] = [user("#say:" + call("get_weather", {"city": "Rome"}) + call("get_time", {}))]
    first = oai.chat.completions.create(model=MODEL, messages=messages, tools=tools)  # type: ignore[arg-type]
    calls = first.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 24 C"})
    noon = [{"type": "text", "text": "#say:It is noon."}]
    messages.append({"role": "tool", "tool_call_id": calls[1].id, "content": noon})
    second = oai.chat.completions.create(model=MODEL, messages=messages, tools=tools)  # type: ignore[arg-type]
    assert second.choices[0].message.content == "It is noon."
    assert second.choices[0].finish_reason == "stop"
    # A result for a call that was never made is refused, as on /v1/messages.
    bad = [*messages[:2], {"role": "tool", "tool_call_id": "call_nope", "content": "x"}]
    with pytest.raises(openai.BadRequestError) as raised:
        oai.chat.completions.create(model=MODEL, messages=bad, tools=tools)  # type: ignore[arg-type]
    assert "call_nope" in raised.value.message


def test_deprecated_functions_round_trip(oai: openai.OpenAI) -> None:
    functions = [WEATHER["function"]]
    first = oai.chat.completions.create(
        model=MODEL,
        messages=[user("#say:" + call("get_weather", {"city": "Lima"}))],
        functions=functions,  # type: ignore[arg-type]
        function_call={"name": "get_weather"},
    )
    [tool_call] = first.choices[0].message.tool_calls or []
    second = oai.chat.completions.create(
        model=MODEL,
        messages=[
            user("weather in Lima?"),
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": tool_call.function.arguments},
            },
            {"role": "function", "name": "get_weather", "content": "#say:Foggy."},
        ],
        functions=functions,  # type: ignore[arg-type]
    )
    assert second.choices[0].message.content == "Foggy."


def test_tool_choice(oai: openai.OpenAI) -> None:
    markup = call("get_weather", {"city": "Rome"}) + call("get_time", {})
    none = oai.chat.completions.create(
        model=MODEL,
        messages=[user("#say:" + markup)],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice="none",
    )
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content == markup
    single = oai.chat.completions.create(
        model=MODEL,
        messages=[user("#say:" + markup)],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        parallel_tool_calls=False,
    )
    assert [c.function.name for c in single.choices[0].message.tool_calls or []] == ["get_weather"]
    for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        forced = oai.chat.completions.create(
            model=MODEL, messages=[user("#say:" + markup)], tools=[WEATHER, TIME], tool_choice=choice
        )  # type: ignore[arg-type]
        assert forced.choices[0].message.tool_calls, choice
    with pytest.raises(openai.BadRequestError) as raised:
        oai.chat.completions.create(
            model=MODEL,
            messages=[user("hi")],
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert "nope" in raised.value.message
    assert raised.value.param == "tool_choice.tool.name"  # type: ignore[attr-defined]


# ---------------------------------------------------------------- response_format


class City(BaseModel):
    name: str
    population: int


def test_response_format_json_schema(oai: openai.OpenAI) -> None:
    reply = '{"name": "Paris", "population": 2100000}'
    parsed = oai.chat.completions.parse(model=MODEL, messages=[user("#say:" + reply)], response_format=City)
    assert parsed.choices[0].message.parsed == City(name="Paris", population=2100000)
    # The schema reaches the prompt (the fake engine cannot be constrained by a grammar;
    # tests/openai_compat/test_real_model.py checks the constrained output).
    plain = oai.chat.completions.create(model=MODEL, messages=[user("#say:" + reply)])
    assert parsed.usage is not None and plain.usage is not None
    assert parsed.usage.prompt_tokens > plain.usage.prompt_tokens + len('"population"')
    as_object = oai.chat.completions.create(
        model=MODEL, messages=[user("#say:" + reply)], response_format={"type": "json_object"}
    )
    assert json.loads(as_object.choices[0].message.content or "") == {"name": "Paris", "population": 2100000}


# ---------------------------------------------------------------- errors


def test_errors_have_the_openai_shape(fake_server: LiveServer, oai: openai.OpenAI) -> None:
    ok = {"model": MODEL, "messages": [user("hi")]}
    error = assert_openai_error(raw_post(fake_server, ok, key="sk-wrong"), 401, "authentication_error")
    assert error["code"] == "invalid_api_key"
    error = assert_openai_error(raw_post(fake_server, {**ok, "model": "gpt-4o"}), 404, "not_found_error", param="model")
    assert error["code"] == "model_not_found"
    assert_openai_error(raw_post(fake_server, {**ok, "n": 2}), 400, "invalid_request_error", param="n")
    assert_openai_error(raw_post(fake_server, {"model": MODEL}), 400, "invalid_request_error", param="messages")
    assert_openai_error(
        raw_post(fake_server, {**ok, "messages": [{"role": "robot", "content": "x"}]}),
        400,
        "invalid_request_error",
        param="messages.0",
    )
    assert_openai_error(
        raw_post(fake_server, {**ok, "temperature": 2.5}), 400, "invalid_request_error", param="temperature"
    )
    assert_openai_error(
        raw_post(fake_server, {**ok, "max_tokens": "10"}), 400, "invalid_request_error", param="max_tokens"
    )
    custom = {**ok, "tools": [{"type": "custom", "custom": {"name": "sql"}}]}
    assert_openai_error(raw_post(fake_server, custom), 400, "invalid_request_error", param="tools.0.type")
    image = {
        **ok,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}],
            }
        ],
    }
    error = assert_openai_error(
        raw_post(fake_server, image), 400, "invalid_request_error", param="messages.0.content.0.image"
    )
    assert "does not support images" in error["message"]
    broken = httpx.post(
        fake_server.base_url + "/v1/chat/completions",
        content=b"{not json",
        headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
    )
    assert_openai_error(broken, 400, "invalid_request_error")
    overloaded = assert_openai_error(
        raw_post(fake_server, {**ok, "messages": [user("#overload")]}), 529, "overloaded_error"
    )
    assert overloaded["message"] == "Overloaded"

    with pytest.raises(openai.AuthenticationError):
        openai_client(fake_server, api_key="sk-wrong").chat.completions.create(model=MODEL, messages=[user("hi")])
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="gpt-4o", messages=[user("hi")])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad_n:
        oai.chat.completions.create(model=MODEL, messages=[user("hi")], n=2)
    assert bad_n.value.message.endswith("n: only n=1 is supported")
    with pytest.raises(openai.InternalServerError) as overload:
        oai.chat.completions.create(model=MODEL, messages=[user("#overload")], stream=True)
    assert overload.value.status_code == 529


def test_the_gate_applies_rate_limits_shared_with_messages(tmp_path: Path) -> None:
    with running(fake_settings(tmp_path, rate_limits=[RateLimitConfig(requests_per_minute=2)])) as live:
        client = openai_client(live)
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user("#say:hi")])
        assert raw.parse().choices[0].message.content == "hi"
        assert raw.headers["anthropic-ratelimit-requests-remaining"] == "1"
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        assert raw.headers["x-ratelimit-remaining-requests"] == "1"
        assert re.fullmatch(r"(\d+m)?\d+s", raw.headers["x-ratelimit-reset-requests"])
        message = live.client().messages.with_raw_response.create(
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
        assert message.headers["anthropic-ratelimit-requests-remaining"] == "0"
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model=MODEL, messages=[user("hi")], stream=True)
        assert raised.value.code == "rate_limit_exceeded"
        assert int(raised.value.response.headers["retry-after"]) >= 1
        assert raised.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_closing_a_stream_early_stops_generation(tmp_path: Path) -> None:
    with running(fake_settings(tmp_path)) as live:
        engine = live.engine
        stream = openai_client(live).chat.completions.create(
            model=MODEL, messages=[user("#forever #slow:20")], max_tokens=100_000, stream=True
        )
        for i, _ in enumerate(stream):
            if i == 3:
                assert engine.active == 1  # still generating, before we hang up
                break
        stream.close()
        assert wait_until(lambda: engine.active == 0, timeout=5), "generation kept running after the client went away"
