"""Citations into fetched documents, and fetched PDFs read as text: scripted on the fake
engine through the official SDK and raw SSE, against a local site (``conftest``). The
fetched page's ``#say:`` line is what the fake model answers, so the answer copies a
sentence of the page and must cite it, with ``document_index`` counting the user's
documents first. Also: the Models API says which server tools the operator enabled.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from conftest import LiveServer, client_fixture, fake_settings, parse_sse, serving
from epistula.config import WebFetchSettings, WebSearchSettings
from files.test_files_sdk import make_pdf

from .conftest import Site
from .test_web_loop import BETAS, FETCH, MODEL, call

CITED = {**FETCH, "citations": {"enabled": True}}
HARBOUR = (
    b"<html><head><title>Harbour Notes</title></head><body><p>Tides turn twice a day.</p>"
    b"<p>#say:The harbour light is green at night.</p><p>Ferries leave the pier every hour.</p></body></html>"
)
PAGES = ("Quarterly report for the board.", "#say:Revenue grew by nine percent in March.")
PDF = make_pdf(*PAGES)
USER_DOCUMENT = {
    "type": "document",
    "source": {"type": "text", "media_type": "text/plain", "data": "Bananas are yellow and grow in bunches."},
    "title": "Fruit",
    "citations": {"enabled": True},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, site: Site, searxng: Site) -> Iterator[LiveServer]:
    site.routes["/harbour"] = lambda q: (200, {"Content-Type": "text/html; charset=utf-8"}, HARBOUR)
    site.routes["/report"] = lambda q: (200, {"Content-Type": "application/pdf"}, PDF)
    site.routes["/download"] = lambda q: (200, {"Content-Type": "application/octet-stream"}, PDF)
    settings = fake_settings(
        tmp_path_factory.mktemp("web-cite"),
        web_fetch=WebFetchSettings(enabled=True, allowed_domains=["127.0.0.1"], allowed_networks=["127.0.0.1/32"]),
        web_search=WebSearchSettings(searxng_url=searxng.url("")),
    )
    yield from serving(settings)


client = client_fixture()


def ask(url: str) -> list[Any]:
    """A user turn with a citable document of its own, then the scripted fetch of ``url``."""
    return [USER_DOCUMENT, {"type": "text", "text": f"Read {url} " + call("web_fetch", {"url": url})}]


def create(client: anthropic.Anthropic, messages: list[Any], tool: dict[str, Any] = CITED) -> Any:
    return client.beta.messages.create(model=MODEL, max_tokens=400, betas=BETAS, tools=[tool], messages=messages)


def cited_block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    """The SSE events of the cited text ``block``: opened with ``citations: []``, one
    ``citations_delta`` per citation, then the text."""
    deltas = [{"type": "citations_delta", "citation": c} for c in block["citations"]]
    deltas.append({"type": "text_delta", "text": block["text"]})
    return [
        {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": "", "citations": []}},
        *({"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def test_cited_fetched_page_json_and_sse(live: LiveServer, client: anthropic.Anthropic, site: Site) -> None:
    url = site.url("/harbour")
    message = create(client, [{"role": "user", "content": ask(url)}])
    assert [b.type for b in message.content] == ["server_tool_use", "web_fetch_tool_result", "text"]
    document = message.content[1].content.content
    assert (document.title, document.source.type, document.citations.enabled) == ("Harbour Notes", "text", True)
    page = document.source.data
    start = page.index("#say:The harbour light")
    end = page.index("Ferries")
    answer = message.content[2].to_dict()
    assert answer == {
        "type": "text",
        "text": "The harbour light is green at night.",
        "citations": [
            {
                "type": "char_location",
                "cited_text": page[start:end],  # the page's sentence, trailing whitespace included
                "document_index": 1,  # the user's document is 0
                "document_title": "Harbour Notes",
                "file_id": None,
                "start_char_index": start,
                "end_char_index": end,
            }
        ],
    }

    body = {"model": MODEL, "max_tokens": 400, "stream": True, "tools": [CITED]}
    body["messages"] = [{"role": "user", "content": ask(url)}]
    response = httpx.post(f"{live.base_url}/v1/messages", json=body, headers=live.headers(), timeout=60)
    assert response.status_code == 200
    events = [(name, data) for name, data in parse_sse(response.text) if name != "ping"]
    assert [data for _, data in events if data.get("index") == 2] == cited_block_events(2, answer)
    result = next(data["content_block"] for _, data in events if data.get("index") == 1 and "content_block" in data)
    assert result["type"] == "web_fetch_tool_result" and result["content"]["content"]["source"]["data"] == page

    # Citations off: the model reads the same page, and its answer cites nothing.
    plain = create(client, [{"role": "user", "content": ask(url)}], FETCH)
    assert plain.content[2].to_dict() == {**answer, "citations": None}


@pytest.mark.parametrize("path", ["/report", "/download"])  # served as a PDF, and as bytes that are one
def test_fetched_pdf_is_read_and_cited_by_page(
    live: LiveServer, client: anthropic.Anthropic, site: Site, path: str
) -> None:
    url = site.url(path)
    asked = [{"role": "user", "content": f"Read {url} " + call("web_fetch", {"url": url})}]
    message = create(client, asked)
    assert [b.type for b in message.content] == ["server_tool_use", "web_fetch_tool_result", "text"]
    fetched = message.content[1].content
    assert fetched.url == url
    assert fetched.content.source.to_dict() == {
        "type": "base64",
        "media_type": "application/pdf",
        "data": base64.b64encode(PDF).decode(),
    }
    expected = {
        "type": "text",
        "text": "Revenue grew by nine percent in March.",  # the model read page 2's text
        "citations": [
            {
                "type": "page_location",
                "cited_text": PAGES[1],
                "document_index": 0,
                "document_title": None,
                "file_id": None,
                "start_page_number": 2,
                "end_page_number": 3,
            }
        ],
    }
    assert message.content[2].to_dict() == expected

    body = {"model": MODEL, "max_tokens": 400, "stream": True, "tools": [CITED], "messages": asked}
    response = httpx.post(f"{live.base_url}/v1/messages", json=body, headers=live.headers(), timeout=60)
    events = [data for name, data in parse_sse(response.text) if name != "ping"]
    [result] = [e["content_block"] for e in events if e["type"] == "content_block_start" and e["index"] == 1]
    assert result["content"]["content"]["source"] == fetched.content.source.to_dict()  # complete, no deltas
    assert [e for e in events if e.get("index") == 2] == cited_block_events(2, expected)

    # The turn sent back: the echoed PDF is read again (not fetched), and still cited.
    hits = site.hits[path]
    echoed = [
        {"role": "user", "content": f"Read {url}"},
        {"role": "assistant", "content": [b.to_dict() for b in message.content[:2]]},
    ]
    again = create(client, echoed)
    assert [b.to_dict() for b in again.content] == [expected]
    assert site.hits[path] == hits
    # count_tokens reads the echoed PDF's text too: the one step's prompt, exactly.
    counted = client.beta.messages.count_tokens(model=MODEL, betas=BETAS, tools=[CITED], messages=echoed)
    assert counted.input_tokens == again.usage.input_tokens


def test_models_api_says_which_server_tools_are_on(live: LiveServer, fake_server: LiveServer) -> None:
    on = live.client().models.retrieve(MODEL).to_dict()["capabilities"]["server_tools"]
    assert on == {"supported": True, "code_execution": {"supported": False}, "web_search": {"supported": True}}
    listed = {m.id: m.to_dict()["capabilities"]["server_tools"] for m in live.client().models.list()}
    assert listed[MODEL] == on
    off = fake_server.client().models.retrieve(MODEL).to_dict()["capabilities"]["server_tools"]
    assert off == {"supported": False, "code_execution": {"supported": False}, "web_search": {"supported": False}}


def test_answers_cite_the_search_results(live: LiveServer, client: anthropic.Anthropic) -> None:
    """Web search results are always citable: the answer copies the result's snippet."""
    search = {"type": "web_search_20250305", "name": "web_search"}
    said = "The comet returns every seventy six years."
    content = call("web_search", {"query": "say:" + said})
    body = {"model": MODEL, "max_tokens": 400, "tools": [search], "messages": [{"role": "user", "content": content}]}
    message = client.messages.create(**body)
    assert [b.type for b in message.content] == ["server_tool_use", "web_search_tool_result", "text"]
    [hit] = message.content[1].content
    assert (hit.url, hit.title) == ("https://docs.example.com/guide", "The Guide")
    answer = message.content[2].to_dict()
    assert answer == {
        "type": "text",
        "text": said,
        "citations": [
            {
                "type": "web_search_result_location",
                "cited_text": "#say:" + said,  # the snippet's sentence
                "url": hit.url,
                "title": hit.title,
                "encrypted_index": answer["citations"][0]["encrypted_index"],
            }
        ],
    }
    assert answer["citations"][0]["encrypted_index"] and said not in answer["citations"][0]["encrypted_index"]

    response = httpx.post(
        f"{live.base_url}/v1/messages", json={**body, "stream": True}, headers=live.headers(), timeout=60
    )
    assert [data for _, data in parse_sse(response.text) if data.get("index") == 2] == cited_block_events(2, answer)

    # Sent back, the sealed result is cited again; a reply that uses no result cites nothing.
    turn = [{"role": "user", "content": "look it up"}, {"role": "assistant", "content": message.content[:2]}]
    again = client.messages.create(**{**body, "messages": turn})
    assert [b.to_dict() for b in again.content] == [answer]
    other = client.messages.create(**{**body, "messages": [{"role": "user", "content": "#say:Bananas are yellow."}]})
    assert other.content[0].to_dict() == {"type": "text", "text": "Bananas are yellow.", "citations": None}
