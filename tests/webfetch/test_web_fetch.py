"""The web fetch tool's fetcher against local HTTP servers on loopback: refused by the
default policy before a byte is sent, allowed only where the operator allows loopback,
every redirect hop checked again, and the limits and error codes of the real API."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from anthropic.types.beta import BetaWebFetchBlock, BetaWebFetchToolResultErrorBlock

from epistula.config import Settings, WebFetchSettings
from epistula.protocol.web import WebFetchBlock, WebFetchToolResultErrorBlock
from epistula.servertools.egress import AddressPolicy
from epistula.servertools.web_fetch import FetchedDocument, FetchRefused, WebFetcher

from .conftest import Site

LOOPBACK = ["127.0.0.0/8", "::1/128"]  # localhost may resolve to both


def fetcher(**overrides: Any) -> WebFetcher:
    settings: dict[str, Any] = {"enabled": True, "allowed_domains": ["localhost", "127.0.0.1", "127.0.0.2"]}
    return WebFetcher(WebFetchSettings(**{**settings, **overrides}))


def fetch(tool: WebFetcher, url: str, **kwargs: Any) -> FetchedDocument:
    return asyncio.run(tool.fetch(url, **kwargs))


def refused(tool: WebFetcher, url: str, **kwargs: Any) -> str:
    with pytest.raises(FetchRefused) as caught:
        fetch(tool, url, **kwargs)
    return caught.value.code


def test_off_by_default() -> None:
    settings = Settings().web_fetch
    assert (settings.enabled, settings.allowed_domains, settings.allowed_networks) == (False, [], [])
    result = asyncio.run(WebFetcher(settings).result("https://example.com/"))
    assert result == WebFetchToolResultErrorBlock(error_code="unavailable")


def test_loopback_is_refused_before_anything_is_sent(site: Site) -> None:
    tool = fetcher()
    for host in ("localhost", "127.0.0.1"):
        assert refused(tool, site.url("/page", host)) == "url_not_allowed"
    assert refused(fetcher(allowed_domains=["*"]), site.url("/page", "[::ffff:127.0.0.1]")) == "url_not_allowed"
    assert site.hits == {}, "no request reached the loopback server"


def test_an_allowed_loopback_page_becomes_a_document(site: Site) -> None:
    document = fetch(fetcher(allowed_networks=LOOPBACK), site.url("/page#frag", "localhost"))
    assert (document.url, document.media_type, document.title) == (
        site.url("/page", "localhost"),
        "text/html",
        "The Test Page",
    )
    assert document.text == "Hello\n\nFirst paragraph.\n\nSecond & last."
    assert document.retrieved_at.endswith("Z")
    block = document.block(citations=True).model_dump()
    sdk = BetaWebFetchBlock.model_validate(block)
    assert (sdk.type, sdk.content.type, sdk.content.title) == ("web_fetch_result", "document", "The Test Page")
    assert block["content"]["source"] == {"type": "text", "media_type": "text/plain", "data": document.text}
    assert block["content"]["citations"] == {"enabled": True}


def test_charsets_and_pdfs(site: Site) -> None:
    tool = fetcher(allowed_networks=LOOPBACK)
    assert fetch(tool, site.url("/latin")).text == "café"
    pdf = fetch(tool, site.url("/pdf")).block().model_dump()
    assert pdf["content"]["source"] == {
        "type": "base64",
        "media_type": "application/pdf",
        "data": "JVBERi0xLjQgdGlueQ==",
    }
    # Bytes or text that start with %PDF- are a PDF whatever the type says; other bytes are refused.
    site.routes["/bytes"] = lambda q: (200, {"Content-Type": "application/octet-stream"}, q["body"][0].encode())
    site.routes["/text"] = lambda q: (200, {"Content-Type": "text/plain"}, q["body"][0].encode())
    for path in ("/bytes", "/text"):
        sniffed = fetch(tool, site.url(path + "?body=%25PDF-1.4%20tiny"))
        assert (sniffed.media_type, sniffed.data, sniffed.text) == ("application/pdf", b"%PDF-1.4 tiny", None)
    assert refused(tool, site.url("/bytes?body=MZ")) == "unsupported_content_type"
    assert fetch(tool, site.url("/text?body=plain")).text == "plain"


def test_domain_lists(site: Site) -> None:
    tool = fetcher(allowed_networks=LOOPBACK, allowed_domains=["example.com"])
    assert refused(tool, site.url("/page")) == "url_not_allowed", "not on the operator's allow-list"
    tool = fetcher(allowed_networks=LOOPBACK)
    assert refused(tool, site.url("/page", "localhost"), allowed_domains=["127.0.0.1"]) == "url_not_allowed"
    assert refused(tool, site.url("/page", "localhost"), blocked_domains=["localhost"]) == "url_not_allowed"
    assert site.hits == {}
    assert fetch(tool, site.url("/page"), allowed_domains=["127.0.0.1"]).title == "The Test Page"


def test_only_urls_of_the_conversation(site: Site) -> None:
    tool = fetcher(allowed_networks=LOOPBACK)
    url = site.url("/page")
    context = f"User: please read {url}/ and summarise it"
    assert fetch(tool, url + "#top", context=context).title == "The Test Page"
    assert refused(tool, site.url("/latin"), context=context) == "url_not_in_prior_context"
    assert site.hits == {"/page": 1}


def test_every_redirect_hop_is_checked(site: Site, other_site: Site) -> None:
    tool = fetcher(allowed_networks=["127.0.0.2/32"])
    into_loopback = other_site.url("/redirect?to=" + site.url("/page"))
    assert refused(tool, into_loopback) == "url_not_allowed"
    assert other_site.hits["/redirect"] == 1 and site.hits == {}, "the hop into 127.0.0.1 was never sent"
    onto_other_domain = other_site.url("/redirect?to=http://example.org/")
    assert refused(tool, onto_other_domain) == "url_not_allowed"
    followed = fetch(tool, other_site.url("/redirect?to=/page"))
    assert followed.url == other_site.url("/page") and followed.title == "The Test Page"
    loop = other_site.url("/redirect?to=/redirect%3Fto%3D/page")
    assert refused(fetcher(allowed_networks=["127.0.0.2/32"], max_redirects=1), loop) == "url_not_accessible"


def test_limits_and_error_codes(site: Site) -> None:
    tool = fetcher(allowed_networks=LOOPBACK, max_bytes=10_000, timeout=0.5)
    assert refused(tool, site.url("/big")) == "content_too_large"
    assert refused(tool, site.url("/slow")) == "url_not_accessible"
    assert refused(tool, site.url("/image")) == "unsupported_content_type"
    assert refused(tool, site.url("/missing")) == "url_not_accessible"
    assert refused(tool, site.url("/page?" + "q" * 300)) == "url_too_long"
    for bad in ("ftp://127.0.0.1/x", "file:///etc/passwd", "http://user:pw@127.0.0.1/", "not a url"):
        assert refused(tool, bad) == "invalid_tool_input", bad
    error = asyncio.run(tool.result(site.url("/image")))
    assert isinstance(error, WebFetchToolResultErrorBlock)
    sdk = BetaWebFetchToolResultErrorBlock.model_validate(error.model_dump())
    assert (sdk.type, sdk.error_code) == ("web_fetch_tool_result_error", "unsupported_content_type")
    assert isinstance(asyncio.run(tool.result(site.url("/page"))), WebFetchBlock)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.1.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff0e::1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("2002:7f00:1::", False),
    ],
)
def test_address_policy(address: str, allowed: bool) -> None:
    assert AddressPolicy().permits(ipaddress.ip_address(address)) is allowed
    assert AddressPolicy(["0.0.0.0/0", "::/0"]).permits(ipaddress.ip_address(address)), "the operator's networks"
