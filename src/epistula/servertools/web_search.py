"""The ``web_search`` server tool's search: a pluggable backend (:class:`SearchBackend`;
:class:`SearxngBackend` asks a SearXNG instance the operator names) and the result blocks
of the real API (``web_search_result`` with ``encrypted_content`` and ``page_age``).

``encrypted_content`` is the result's page snippet sealed by this server (HMAC-SHA256
over the JSON, key in the data directory): opaque to clients, and verifiable when a
client sends the block back in a later turn, so the snippet the model then reads is the
one the search returned. It is signed, not encrypted: the snippets are public pages.
Off unless the operator sets ``web_search.searxng_url``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from epistula.config import Settings, WebSearchSettings, data_dir_key
from epistula.protocol.web import WebSearchResultBlock, WebSearchToolResultError, WebSearchToolResultErrorCode

from .base import ToolFailed
from .web_fetch import domain_matches

KEY_FILE = "web_search.key"


class SearchFailed(ToolFailed[WebSearchToolResultErrorCode]):
    """The search ends with ``code`` (a ``web_search_tool_result_error``)."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    url: str
    title: str
    snippet: str
    published: datetime | None = None


class SearchBackend(Protocol):
    """A search engine: up to ``limit`` hits for ``query``, best first (:class:`SearchFailed`)."""

    async def search(self, query: str, *, limit: int) -> list[SearchHit]: ...


def _published(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class SearxngBackend:
    """SearXNG's JSON API (``GET /search?q=...&format=json``; its ``search.formats`` must list ``json``)."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._transport = transport

    async def search(self, query: str, *, limit: int) -> list[SearchHit]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout, trust_env=False, transport=self._transport) as http:
                response = await http.get(f"{self.base_url}/search", params={"q": query, "format": "json"})
        except httpx.HTTPError as exc:
            raise SearchFailed("unavailable", str(exc)) from None
        if response.status_code == 429:
            raise SearchFailed("too_many_requests")
        if response.status_code != 200:
            raise SearchFailed("unavailable", f"SearXNG answered HTTP {response.status_code}")
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError):
            raise SearchFailed("unavailable", "SearXNG's answer is not its JSON format") from None
        hits: list[SearchHit] = []
        for item in results if isinstance(results, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            title, snippet = item.get("title"), item.get("content")
            hits.append(
                SearchHit(
                    url=item["url"],
                    title=title if isinstance(title, str) and title else item["url"],
                    snippet=snippet if isinstance(snippet, str) else "",
                    published=_published(item.get("publishedDate")),
                )
            )
            if len(hits) >= limit:
                break
        return hits


class ContentSeal:
    """Seals a hit into ``encrypted_content`` and opens it again (None: not sealed here)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> ContentSeal:
        """The key lives in the data directory so sealed results survive restarts."""
        return cls(data_dir_key(data_dir, KEY_FILE))

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def seal(self, hit: SearchHit) -> str:
        payload = json.dumps({"url": hit.url, "title": hit.title, "content": hit.snippet}, ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(self._mac(payload) + payload).decode()

    def open(self, sealed: str) -> SearchHit | None:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
        except (binascii.Error, ValueError):
            return None
        mac, payload = raw[:32], raw[32:]
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        data = json.loads(payload)
        return SearchHit(url=data["url"], title=data["title"], snippet=data["content"])

    def snippet(self, sealed: str) -> str | None:
        """The snippet sealed in ``sealed`` (None: not sealed here)."""
        hit = self.open(sealed)
        return hit.snippet if hit is not None else None


def page_age(published: datetime | None) -> str | None:
    """As the real API writes it: ``April 30, 2025``."""
    return f"{published:%B} {published.day}, {published.year}" if published else None


class WebSearcher:
    def __init__(self, settings: WebSearchSettings, backend: SearchBackend, seal: ContentSeal) -> None:
        self.settings = settings
        self.backend = backend
        self.seal = seal

    @classmethod
    def from_settings(cls, settings: Settings) -> WebSearcher | None:
        """The operator's SearXNG search, or None (web search is off)."""
        config = settings.web_search
        if not config.searxng_url:
            return None
        backend = SearxngBackend(config.searxng_url, timeout=config.timeout)
        return cls(config, backend, ContentSeal.from_data_dir(settings.data_dir))

    async def search(
        self, query: str, *, allowed_domains: Sequence[str] | None = None, blocked_domains: Sequence[str] | None = None
    ) -> list[WebSearchResultBlock]:
        """The result blocks for ``query`` (:class:`SearchFailed` with the error code)."""
        if not query.strip():
            raise SearchFailed("invalid_tool_input", "an empty query")
        if len(query) > self.settings.max_query_chars:
            raise SearchFailed("query_too_long")
        if allowed_domains and blocked_domains:
            raise SearchFailed("invalid_tool_input", "allowed_domains and blocked_domains exclude each other")
        asked = self.settings.max_results * (3 if allowed_domains or blocked_domains else 1)
        hits = await self.backend.search(query, limit=asked)
        blocks: list[WebSearchResultBlock] = []
        for hit in hits:
            host = urlsplit(hit.url).hostname or ""
            if allowed_domains and not domain_matches(host, allowed_domains):
                continue
            if blocked_domains and domain_matches(host, blocked_domains):
                continue
            blocks.append(
                WebSearchResultBlock(
                    url=hit.url,
                    title=hit.title,
                    encrypted_content=self.seal.seal(hit),
                    page_age=page_age(hit.published),
                )
            )
            if len(blocks) >= self.settings.max_results:
                break
        return blocks

    async def result(
        self, query: str, *, allowed_domains: Sequence[str] | None = None, blocked_domains: Sequence[str] | None = None
    ) -> list[WebSearchResultBlock] | WebSearchToolResultError:
        """The content of a ``web_search_tool_result`` block: the results, or the error."""
        try:
            return await self.search(query, allowed_domains=allowed_domains, blocked_domains=blocked_domains)
        except SearchFailed as failed:
            return WebSearchToolResultError(error_code=failed.code)
