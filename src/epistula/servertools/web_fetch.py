"""The ``web_fetch`` server tool's fetcher (``web_fetch_20250910``): one URL to the content
of a ``web_fetch_tool_result`` block, or the error block with the real API's code.

Egress is the operator's: the tool is off by default, a host must be on the operator's
allow-list (and on the request's, and off its block-list), and connections only reach
public addresses (:mod:`.egress`: DNS resolved once, every address checked, the checked
one connected to). Redirects are followed by hand, each hop checked again the same way.
Body size and the whole fetch's time are bounded. No proxy variables, cookies or
credentials are used.
"""

from __future__ import annotations

import base64
import codecs
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import anyio
import httpcore

from epistula.config import WebFetchSettings
from epistula.protocol.web import (
    Base64PDFSource,
    CitationsConfig,
    DocumentBlock,
    PlainTextSource,
    WebFetchBlock,
    WebFetchToolResultErrorBlock,
    WebFetchToolResultErrorCode,
)

from .base import ToolFailed
from .egress import AddressPolicy, AddressRefused, GuardedBackend
from .html_text import html_text

REDIRECTS = frozenset({301, 302, 303, 307, 308})
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/xhtml+xml", "application/x-yaml"})
PDF = "application/pdf"
PDF_MAGIC = b"%PDF-"
SNIFFED = frozenset({"application/octet-stream", "binary/octet-stream", "application/x-pdf", "application/download"})
"""Types whose body is read to see whether it is a PDF (``%PDF-``); anything else is unsupported."""
_CHUNK = 64 * 1024
T = TypeVar("T")


class FetchRefused(ToolFailed[WebFetchToolResultErrorCode]):
    """The fetch ends with ``code`` (a ``web_fetch_tool_result_error``)."""


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    """A fetched page: its final URL, its media type, and either its text or (PDF) its bytes."""

    url: str
    media_type: str
    retrieved_at: str
    text: str | None = None
    data: bytes | None = None
    title: str | None = None

    def block(self, *, citations: bool = False) -> WebFetchBlock:
        """The ``web_fetch_result`` content block (its document cites when ``citations``)."""
        source: PlainTextSource | Base64PDFSource
        if self.data is not None:
            source = Base64PDFSource(data=base64.b64encode(self.data).decode())
        else:
            source = PlainTextSource(data=self.text or "")
        document = DocumentBlock(source=source, title=self.title, citations=CitationsConfig(enabled=citations))
        return WebFetchBlock(url=self.url, retrieved_at=self.retrieved_at, content=document)


def in_prior_context(url: str, context: str) -> bool:
    """Whether ``url`` (fragment and trailing slash aside) appears in ``context``: the
    real tool fetches only URLs the user gave or earlier search and fetch results held."""
    bare = urlsplit(url)._replace(fragment="").geturl().rstrip("/")
    return bool(bare) and bare in context


def domain_matches(host: str, domains: Sequence[str]) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one (``*`` matches any host)."""
    host = host.lower().rstrip(".")
    for domain in domains:
        domain = domain.lower().strip().rstrip(".")
        if domain == "*" or host == domain or host.endswith("." + domain):
            return True
    return False


class WebFetcher:
    def __init__(self, settings: WebFetchSettings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._backend = GuardedBackend(AddressPolicy(settings.allowed_networks))
        self._ssl = ssl_context or ssl.create_default_context()

    def check_url(
        self, url: str, *, allowed_domains: Sequence[str] | None = None, blocked_domains: Sequence[str] | None = None
    ) -> str:
        """The URL's host (IDNA-encoded), if the policy lets it be fetched (else :class:`FetchRefused`)."""
        if len(url) > self.settings.max_url_length:
            raise FetchRefused("url_too_long")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise FetchRefused("invalid_tool_input", "not a URL") from None
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise FetchRefused("invalid_tool_input", "only http and https URLs are fetched")
        if parts.username is not None or parts.password is not None or (port is not None and not 0 < port < 65536):
            raise FetchRefused("invalid_tool_input", "URLs with credentials or a bad port are not fetched")
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise FetchRefused("invalid_tool_input", "not a valid host name") from None
        if not domain_matches(host, self.settings.allowed_domains):
            raise FetchRefused("url_not_allowed", f"{host} is not on the server's allow-list")
        if allowed_domains and not domain_matches(host, allowed_domains):
            raise FetchRefused("url_not_allowed", f"{host} is not in the tool's allowed_domains")
        if blocked_domains and domain_matches(host, blocked_domains):
            raise FetchRefused("url_not_allowed", f"{host} is in the tool's blocked_domains")
        return host

    def _request_url(self, url: str, host: str) -> str:
        """``url`` with its (checked) host in ASCII, as HTTP sends it."""
        parts = urlsplit(url)
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return parts._replace(netloc=netloc, fragment="").geturl()

    async def fetch(
        self,
        url: str,
        *,
        allowed_domains: Sequence[str] | None = None,
        blocked_domains: Sequence[str] | None = None,
        context: str | None = None,
    ) -> FetchedDocument:
        """Fetch ``url`` within the limits (:class:`FetchRefused` with the error code).
        ``context``: the conversation's text so far, which must hold the URL."""
        if not self.settings.enabled:
            raise FetchRefused("unavailable", "web fetch is not enabled on this server")
        if context is not None and not in_prior_context(url, context):
            raise FetchRefused("url_not_in_prior_context")
        return await self.get(url, self._document, allowed_domains=allowed_domains, blocked_domains=blocked_domains)

    async def get(
        self,
        url: str,
        read: Callable[[str, httpcore.Response], Awaitable[T]],
        *,
        allowed_domains: Sequence[str] | None = None,
        blocked_domains: Sequence[str] | None = None,
    ) -> T:
        """GET ``url`` within the policy and the time limit, following redirects (each hop
        checked again); ``read`` turns the final URL and response into the result
        (:class:`FetchRefused` with the error code)."""
        try:
            with anyio.fail_after(self.settings.timeout):
                return await self._follow(url, read, allowed_domains, blocked_domains)
        except TimeoutError:
            raise FetchRefused("url_not_accessible", "the fetch timed out") from None
        except AddressRefused as exc:
            raise FetchRefused("url_not_allowed", str(exc)) from None
        except httpcore.TimeoutException:
            raise FetchRefused("url_not_accessible", "the fetch timed out") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise FetchRefused("url_not_accessible", str(exc)) from None

    async def result(
        self,
        url: str,
        *,
        citations: bool = False,
        allowed_domains: Sequence[str] | None = None,
        blocked_domains: Sequence[str] | None = None,
        context: str | None = None,
    ) -> WebFetchBlock | WebFetchToolResultErrorBlock:
        """The content of a ``web_fetch_tool_result`` block: the page, or the error."""
        try:
            document = await self.fetch(
                url, allowed_domains=allowed_domains, blocked_domains=blocked_domains, context=context
            )
        except FetchRefused as refused:
            return WebFetchToolResultErrorBlock(error_code=refused.code)
        return document.block(citations=citations)

    async def _follow(
        self,
        url: str,
        read: Callable[[str, httpcore.Response], Awaitable[T]],
        allowed_domains: Sequence[str] | None,
        blocked_domains: Sequence[str] | None,
    ) -> T:
        async with httpcore.AsyncConnectionPool(
            ssl_context=self._ssl, network_backend=self._backend, max_connections=1, retries=0
        ) as pool:
            for _ in range(self.settings.max_redirects + 1):
                host = self.check_url(url, allowed_domains=allowed_domains, blocked_domains=blocked_domains)
                url = self._request_url(url, host)
                headers = [(b"Host", _host_header(url)), (b"User-Agent", self.settings.user_agent.encode()),
                           (b"Accept", b"text/html, text/plain, application/pdf, */*;q=0.5")]  # fmt: skip
                async with pool.stream("GET", url, headers=headers) as response:
                    if response.status in REDIRECTS:
                        location = _header(response, b"location")
                        if not location:
                            raise FetchRefused("url_not_accessible", "a redirect without a Location")
                        url = urljoin(url, location)
                        continue
                    if response.status >= 400:
                        raise FetchRefused("url_not_accessible", f"HTTP {response.status}")
                    return await read(url, response)
        raise FetchRefused("url_not_accessible", "too many redirects")

    async def _document(self, url: str, response: httpcore.Response) -> FetchedDocument:
        content_type = _header(response, b"content-type") or "application/octet-stream"
        media_type, _, params = content_type.partition(";")
        media_type = media_type.strip().lower()
        textual = media_type.startswith("text/") or media_type in TEXT_TYPES
        if not (textual or media_type == PDF or media_type in SNIFFED):
            raise FetchRefused("unsupported_content_type", media_type)
        body = await read_body(response, self.settings.max_bytes)
        retrieved = datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if media_type == PDF or body.startswith(PDF_MAGIC):  # a PDF served as text or bytes is a PDF
            return FetchedDocument(url=url, media_type=PDF, retrieved_at=retrieved, data=body)
        if not textual:
            raise FetchRefused("unsupported_content_type", media_type)
        text = body.decode(_charset(params), errors="replace")
        title = None
        if media_type in ("text/html", "application/xhtml+xml"):
            text, title = html_text(text)
        return FetchedDocument(url=url, media_type=media_type, retrieved_at=retrieved, text=text, title=title)


async def read_body(response: httpcore.Response, limit: int) -> bytes:
    """The response's body, refused (``content_too_large``) past ``limit`` bytes."""
    length = _header(response, b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise FetchRefused("content_too_large")
    body = bytearray()
    async for chunk in response.aiter_stream():
        body += chunk
        if len(body) > limit:
            raise FetchRefused("content_too_large")
    return bytes(body)


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def _host_header(url: str) -> bytes:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname or ""
    name = f"[{host}]" if ":" in host else host
    return (name if parts.port in (None, default) else f"{name}:{parts.port}").encode("ascii")


def _charset(params: str) -> str:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"
