"""Web fetch with the real default model (SmolLM2-135M), greedy. ``tool_choice`` forces the
``web_fetch`` call (the grammar makes the model write one, whatever URL it picks), and
with a one-call step limit the turn pauses after the result. Then the turn is sent back
with a fetched PDF in it, citations on: whatever the model answers, every citation it
carries points at a real page of that PDF."""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator

import pytest

from conftest import API_KEY, V2023, LiveServer, serving
from epistula.config import Settings, WebFetchSettings
from files.test_files_sdk import make_pdf

from .conftest import Site

pytestmark = pytest.mark.model

PAGES = ("The lighthouse keeper lit the lamp at dusk.", "A storm broke over the northern cliffs at midnight.")
TOOL = {"type": "web_fetch_20250910", "name": "web_fetch", "citations": {"enabled": True}}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        engine="llamacpp",
        api_key=API_KEY,
        data_dir=tmp_path_factory.mktemp("web-fetch-model"),
        n_seq_max=1,
        web_fetch=WebFetchSettings(enabled=True, allowed_domains=["127.0.0.1"], allowed_networks=["127.0.0.1/32"]),
        server_tool_max_steps=1,
    )
    yield from serving(settings, startup_timeout=300.0)


def test_forced_fetch_then_cited_answer(live: LiveServer, site: Site) -> None:
    pdf = make_pdf(*PAGES)
    site.routes["/log.pdf"] = lambda q: (200, {"Content-Type": "application/pdf"}, pdf)
    url = site.url("/log.pdf")
    client = live.client(version=V2023, timeout=120.0)
    question = f"Fetch {url} and tell me what happened at midnight."
    # Greedy, with the fetch tool: the forced call, then the answer to the turn sent back.
    ask = functools.partial(
        client.beta.messages.create,
        model="claude-haiku-4-5",
        max_tokens=120,
        extra_body={"temperature": 0.0},
        betas=["web-fetch-2025-09-10"],
        tools=[TOOL],
    )
    message = ask(
        tool_choice={"type": "tool", "name": "web_fetch"},
        messages=[{"role": "user", "content": question}],
    )
    assert [b.type for b in message.content] == ["server_tool_use", "web_fetch_tool_result"]
    use, result = message.content
    assert use.name == "web_fetch" and set(use.input) == {"url"} and result.tool_use_id == use.id
    # Whatever URL the model wrote: fetched, or refused with a documented code.
    assert result.content.type in ("web_fetch_result", "web_fetch_tool_result_error")
    assert message.stop_reason == "pause_turn"

    # The turn sent back holding the fetched PDF: the model reads its text and answers.
    fetched = {
        "type": "web_fetch_tool_result",
        "tool_use_id": use.id,
        "content": {
            "type": "web_fetch_result",
            "url": url,
            "content": {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(pdf).decode()},
                "citations": {"enabled": True},
            },
        },
    }
    hits = site.hits["/log.pdf"]
    answer = ask(
        tool_choice={"type": "none"},  # an answer, not another call
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": [use.to_dict(), fetched]},
        ],
    )
    texts = [b for b in answer.content if b.type == "text"]
    assert texts and "".join(b.text for b in texts).strip()
    for block in texts:
        for citation in block.citations or []:
            assert citation.type == "page_location" and citation.document_index == 0
            assert citation.end_page_number == citation.start_page_number + 1
            assert citation.cited_text == PAGES[citation.start_page_number - 1]
    assert site.hits["/log.pdf"] == hits  # the echoed PDF is not fetched again
