"""Web fetch and web search as server tools of the Messages API: scripted conversations on
the fake engine through the official SDK and raw SSE, against local sites and a SearXNG
double (``conftest``). The fake model's next step is scripted by a ``#say:`` in what the
tool returned: the fetched page's text or a search result's snippet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from conftest import (
    LiveServer,
    assert_error,
    client_fixture,
    fake_settings,
    serving,
    streamed_tool_turn,
)
from epistula.config import WebFetchSettings, WebSearchSettings

from .conftest import Site

MODEL = "claude-sonnet-4-5"
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}
SEARCH = {"type": "web_search_20250305", "name": "web_search"}
BETAS = ["web-fetch-2025-09-10"]


def call(name: str, arguments: dict[str, Any], before: str = "") -> str:
    """A fake reply: ``before``, then a call of ``name`` (``json.dumps`` writes ``/`` as is)."""
    payload = json.dumps({"name": name, "arguments": arguments})
    return f"#say:{before}<tool_call>{payload}</tool_call>"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, searxng: Site) -> Iterator[LiveServer]:
    settings = fake_settings(
        tmp_path_factory.mktemp("web-loop"),
        web_fetch=WebFetchSettings(
            enabled=True, allowed_domains=["127.0.0.1", "127.0.0.2"], allowed_networks=["127.0.0.1/32"]
        ),
        web_search=WebSearchSettings(searxng_url=searxng.url("")),
        server_tool_max_steps=4,
    )
    yield from serving(settings)


client = client_fixture()


def create(client: anthropic.Anthropic, content: Any, tools: list[Any], **extra: Any) -> Any:
    messages = extra.pop("messages", [{"role": "user", "content": content}])
    extra.setdefault("max_tokens", 400)
    return client.beta.messages.create(model=MODEL, betas=BETAS, tools=tools, messages=messages, **extra)


def test_fetch_of_an_allowed_site(client: anthropic.Anthropic, site: Site) -> None:
    url = site.url("/say")
    message = create(client, f"Read {url} please. " + call("web_fetch", {"url": url}, "Fetching."), [FETCH])
    assert [b.type for b in message.content] == ["text", "server_tool_use", "web_fetch_tool_result", "text"]
    text, use, result, answer = message.content
    assert text.text == "Fetching."
    assert use.id.startswith("srvtoolu_") and (use.name, use.input) == ("web_fetch", {"url": url})
    assert result.tool_use_id == use.id and result.content.type == "web_fetch_result"
    assert result.content.url == url and result.content.retrieved_at
    document = result.content.content
    assert (document.type, document.source.type, document.source.media_type) == ("document", "text", "text/plain")
    assert document.source.data == "#say:The page says hello."
    assert document.citations is not None and document.citations.enabled is False
    assert answer.text == "The page says hello."  # the model read the page
    assert message.stop_reason == "end_turn" and message.container is None
    assert message.usage.server_tool_use is not None
    assert (message.usage.server_tool_use.web_fetch_requests, message.usage.server_tool_use.web_search_requests) == (
        1,
        0,
    )
    assert site.hits["/say"] == 1

    # The turn sent back (ending in the result) is shown to the model, which goes on from the page.
    assistant = {"role": "assistant", "content": [b.to_dict() for b in message.content[:3]]}
    again = create(client, None, [FETCH], messages=[{"role": "user", "content": f"Read {url}"}, assistant])
    assert [b.type for b in again.content] == ["text"] and again.content[0].text == "The page says hello."
    assert site.hits["/say"] == 1  # nothing fetched again


def test_fetch_refusals_are_results(client: anthropic.Anthropic, site: Site, other_site: Site) -> None:
    # 127.0.0.2 is on the domain allow-list but not in allowed_networks: loopback is refused.
    refused = other_site.url("/say")
    message = create(client, call("web_fetch", {"url": refused}), [FETCH])
    assert [b.type for b in message.content] == ["server_tool_use", "web_fetch_tool_result", "text"]
    assert message.content[1].content.type == "web_fetch_tool_result_error"
    assert message.content[1].content.error_code == "url_not_allowed"
    assert message.usage.server_tool_use is not None and message.usage.server_tool_use.web_fetch_requests == 0
    assert not other_site.hits

    # A URL that no user message holds (the call writes it as "http:\/\/..."): not fetched.
    hidden = site.url("/say")
    escaped = call("web_fetch", {"url": hidden}).replace(hidden, hidden.replace("/", "\\/"))
    message = create(client, escaped, [FETCH])
    assert message.content[0].input == {"url": hidden}
    assert message.content[1].content.error_code == "url_not_in_prior_context"
    assert not site.hits


def test_max_uses(client: anthropic.Anthropic, site: Site) -> None:
    url = site.url("/again")
    again = call("web_fetch", {"url": url})
    site.routes["/again"] = lambda query: (200, {"Content-Type": "text/plain"}, again.encode())
    tool = {**FETCH, "max_uses": 1}
    message = create(client, again, [tool])
    kinds = [b.type for b in message.content]
    assert kinds == ["server_tool_use", "web_fetch_tool_result", "server_tool_use", "web_fetch_tool_result", "text"]
    assert message.content[1].content.type == "web_fetch_result"
    assert message.content[3].content.error_code == "max_uses_exceeded"
    assert message.usage.server_tool_use is not None and message.usage.server_tool_use.web_fetch_requests == 1
    assert site.hits["/again"] == 1


def test_a_call_cut_by_max_tokens_is_not_run(client: anthropic.Anthropic, site: Site) -> None:
    url = site.url("/say")
    said = call("web_fetch", {"url": url}, "Fetching.")
    limit = len(said) - len("#say:") - len("</tool_call>") - 3  # the fake's tokens are bytes: cut in the URL
    message = create(client, f"Read {url} please. {said}", [FETCH], max_tokens=limit)
    assert [b.type for b in message.content] == ["text", "server_tool_use"]
    assert message.content[1].input == {}  # the URL was not written in full
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == limit
    assert message.usage.server_tool_use is None or message.usage.server_tool_use.web_fetch_requests == 0
    assert "/say" not in site.hits


def test_search_stream_sequence(live: LiveServer, client: anthropic.Anthropic, searxng: Site) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 400,
        "stream": True,
        "tools": [SEARCH],
        "messages": [{"role": "user", "content": call("web_search", {"query": "say:Found it."}, "Searching.")}],
    }
    events, use = streamed_tool_turn(live, body, "web_search", "web_search_tool_result")
    result = next(data["content_block"] for _, data in events if data.get("index") == 2)
    [hit] = result["content"]
    assert result == {
        "type": "web_search_tool_result",
        "tool_use_id": use["id"],
        "content": [
            {
                "type": "web_search_result",
                "url": "https://docs.example.com/guide",
                "title": "The Guide",
                "encrypted_content": hit["encrypted_content"],
                "page_age": None,
            }
        ],
    }
    assert "Found it" not in hit["encrypted_content"]  # opaque to the client
    answer = "".join(d["delta"]["text"] for n, d in events if d.get("index") == 3 and n == "content_block_delta")
    assert answer == "Found it."  # the model read the snippet
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["delta"].get("container") is None
    assert delta["usage"]["server_tool_use"] == {"web_search_requests": 1, "web_fetch_requests": 0}
    assert searxng.hits["/search"] == 1

    # The SDK folds the same message; sent back, the sealed snippet is shown to the model again.
    message = create(client, body["messages"][0]["content"], [SEARCH])
    assert [b.type for b in message.content] == ["text", "server_tool_use", "web_search_tool_result", "text"]
    turn = [{"role": "user", "content": "look it up"}, {"role": "assistant", "content": message.content[1:3]}]
    again = create(client, None, [SEARCH], messages=turn)
    assert again.content[0].text == "Found it."


def test_definitions_and_disabled_server(live: LiveServer, fake_server: LiveServer) -> None:
    def post(server: LiveServer, **body: Any) -> httpx.Response:
        body = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}], **body}
        return httpx.post(f"{server.base_url}/v1/messages", json=body, headers=server.headers())

    both = {**SEARCH, "allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}
    assert_error(
        post(live, tools=[both]),
        400,
        "invalid_request_error",
        "tools.0.web_search_20250305: use either allowed_domains or blocked_domains, not both",
    )
    response = post(live, tools=[{**FETCH, "max_uses": 0}])
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("tools.0.web_fetch_20250910.max_uses:")
    response = post(live, tools=[{**FETCH, "name": "fetch"}])
    assert response.status_code == 400 and "tools.0.web_fetch_20250910.name" in response.json()["error"]["message"]
    bad_echo = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [{"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": {"type": "bogus"}}],
        },
    ]
    assert post(live, tools=[SEARCH], messages=bad_echo).status_code == 400
    off = post(fake_server, tools=[FETCH])  # a server without web fetch: the server-tool 400
    assert off.status_code == 400 and "server tool" in off.json()["error"]["message"]
