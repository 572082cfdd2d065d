"""Web search through a local HTTP double of SearXNG's JSON API: result blocks in the real
shape (checked with the SDK's types), sealed snippets, domain filters and error codes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from anthropic.types.beta import BetaWebSearchResultBlock, BetaWebSearchToolResultErrorObject

from epistula.config import Settings, WebSearchSettings
from epistula.servertools.web_search import ContentSeal, SearchFailed, SearxngBackend, WebSearcher

from .conftest import Site, serving


def searcher(site: Site, tmp_path: Path, **overrides: Any) -> WebSearcher:
    url = site.url("")
    settings = Settings(data_dir=tmp_path, web_search=WebSearchSettings(searxng_url=url, **overrides))
    made = WebSearcher.from_settings(settings)
    assert made is not None
    return made


def search(tool: WebSearcher, query: str, **kwargs: Any) -> list[Any]:
    return asyncio.run(tool.search(query, **kwargs))


def test_off_by_default(tmp_path: Path) -> None:
    assert WebSearcher.from_settings(Settings(data_dir=tmp_path)) is None


def test_results_in_the_real_shape(searxng: Site, tmp_path: Path) -> None:
    tool = searcher(searxng, tmp_path)
    blocks = search(tool, "the thing")
    assert searxng.hits["/search"] == 1
    dumped = [b.model_dump() for b in blocks]
    sdk = [BetaWebSearchResultBlock.model_validate(d) for d in dumped]
    assert [(b.type, b.url, b.title, b.page_age) for b in sdk] == [
        ("web_search_result", "https://docs.example.com/guide", "The Guide", "April 30, 2025"),
        ("web_search_result", "https://blog.other.org/post", "A Post", None),
        ("web_search_result", "https://example.com/", "https://example.com/", None),
    ]
    opened = tool.seal.open(blocks[0].encrypted_content)
    assert opened is not None and opened.snippet == "How to do the thing." and opened.url == blocks[0].url
    assert "How to do" not in blocks[0].encrypted_content, "opaque to clients"
    again = ContentSeal.from_data_dir(tmp_path).open(blocks[1].encrypted_content)
    assert again is not None and again.snippet == "Opinions.", "the key survives a restart"
    forged = blocks[0].encrypted_content[:-4] + ("AAAA" if not blocks[0].encrypted_content.endswith("AAAA") else "BBBB")
    assert tool.seal.open(forged) is None and tool.seal.open("not base64!") is None
    assert ContentSeal(b"another key").open(blocks[0].encrypted_content) is None


def test_limits_and_domain_filters(searxng: Site, tmp_path: Path) -> None:
    tool = searcher(searxng, tmp_path, max_results=2)
    assert [b.url for b in search(tool, "x")] == ["https://docs.example.com/guide", "https://blog.other.org/post"]
    only = search(tool, "x", allowed_domains=["example.com"])
    assert [b.url for b in only] == ["https://docs.example.com/guide", "https://example.com/"]
    assert [b.url for b in search(tool, "x", blocked_domains=["example.com"])] == ["https://blog.other.org/post"]


@pytest.mark.parametrize(
    ("query", "kwargs", "code"),
    [
        ("ratelimited", {}, "too_many_requests"),
        ("broken", {}, "unavailable"),
        ("   ", {}, "invalid_tool_input"),
        ("q" * 401, {}, "query_too_long"),
        ("x", {"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, "invalid_tool_input"),
    ],
)
def test_errors(searxng: Site, tmp_path: Path, query: str, kwargs: dict[str, Any], code: str) -> None:
    tool = searcher(searxng, tmp_path)
    with pytest.raises(SearchFailed) as caught:
        search(tool, query, **kwargs)
    assert caught.value.code == code
    error = asyncio.run(tool.result(query, **kwargs))
    sdk = BetaWebSearchToolResultErrorObject.model_validate(error if isinstance(error, dict) else error.model_dump())
    assert (sdk.type, sdk.error_code) == ("web_search_tool_result_error", code)


def test_an_unreachable_backend_is_unavailable(tmp_path: Path) -> None:
    with serving(Site("127.0.0.1")) as gone:
        url = gone.url("")
    backend = SearxngBackend(url, timeout=2)
    with pytest.raises(SearchFailed) as caught:
        asyncio.run(backend.search("x", limit=5))
    assert caught.value.code == "unavailable"
