"""URL sources through the official Python SDK: the vision server fetches images and PDFs
from a local site on 127.0.0.1 (allowed for it alone), counts them exactly like the same
bytes sent inline, and answers a URL it cannot use with a 400. Loopback stays refused by
default, and fetching is off by default."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from conftest import MODEL, LiveServer
from epistula.config import Settings, UrlSourceSettings
from epistula.errors import InvalidRequestError, RequestTooLargeError
from epistula.files.sources import resolve_file_documents
from epistula.protocol.messages import MessageCountTokensParams
from epistula.servertools.url_sources import UrlSourceFetcher
from files.test_files_sdk import make_pdf
from webfetch.conftest import Site, serving

from .projector import IMAGE_TOKENS, png
from .test_vision_sdk import ask, count, image, openai_prompt_tokens

PICTURE = png(36, 20, seed=50)
PDF = make_pdf("First page.", "Second page.")


def _redirect(query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
    return 302, {"Location": query["to"][0]}, b""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    routes = {
        "/cat.png": lambda q: (200, {"Content-Type": "image/png"}, PICTURE),
        "/mislabeled": lambda q: (200, {"Content-Type": "text/plain"}, PICTURE),  # sniffed: a PNG
        "/page.html": lambda q: (200, {"Content-Type": "text/html"}, b"<html>not an image</html>"),
        "/huge.png": lambda q: (200, {"Content-Type": "image/png"}, PICTURE + b"\x00" * (5 * 1024 * 1024)),
        "/doc.pdf": lambda q: (200, {"Content-Type": "application/pdf"}, PDF),
        "/redirect": _redirect,
    }
    with serving(Site("127.0.0.1", routes)) as running:
        yield running


def url_image(url: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "url", "url": url}}


def create(client: anthropic.Anthropic, messages: list[dict[str, Any]]) -> anthropic.types.Message:
    return client.messages.create(model=MODEL, max_tokens=2, messages=messages)  # type: ignore[arg-type]


def test_an_image_url_counts_and_bills_like_the_same_bytes_inline(vision_server: LiveServer, site: Site) -> None:
    client = vision_server.client()
    inline = count(client, ask(image(PICTURE)))
    for path in ("/cat.png", "/mislabeled", "/redirect?to=/cat.png"):
        by_url = ask(url_image(site.url(path)))
        assert count(client, by_url) == inline, path
        assert create(client, by_url).usage.input_tokens == inline, path
    assert site.hits["/cat.png"] == 4  # counted and created, directly and through the redirect


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing.png", "HTTP 404"),
        ("/page.html", "did not return a supported image"),
        ("/huge.png", "the content is too large"),
        ("/redirect?to=http://localhost:1/x.png", "the server does not fetch from this host"),
    ],
)
def test_an_unusable_image_url_is_a_400(vision_server: LiveServer, site: Site, path: str, message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        create(vision_server.client(), ask(url_image(site.url(path))))
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("messages.0.content.0.image.source.url: ")
    assert message in error["message"]


def test_a_host_off_the_allow_list_is_never_asked(vision_server: LiveServer, site: Site) -> None:
    site.hits.clear()
    with pytest.raises(anthropic.BadRequestError, match="does not fetch from this host"):
        create(vision_server.client(), ask(url_image(site.url("/cat.png", host="localhost"))))
    assert site.hits == {}


def test_a_pdf_url_brings_its_pages_as_text_and_images(vision_server: LiveServer, site: Site) -> None:
    """A vision model reads each page as an image and its text: two pages, two images."""
    client = vision_server.client()

    def document(source: dict[str, Any]) -> list[dict[str, Any]]:
        return ask({"type": "document", "source": source})

    by_url = count(client, document({"type": "url", "url": site.url("/doc.pdf")}))
    inline = count(
        client, document({"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(PDF).decode()})
    )
    assert by_url == inline
    text = '<page number="1">\nFirst page.\n</page>\n<page number="2">\nSecond page.\n</page>'
    text_only = count(client, document({"type": "text", "media_type": "text/plain", "data": text}))
    assert 2 * IMAGE_TOKENS <= by_url - text_only <= 2 * IMAGE_TOKENS + 8  # the images and their line breaks
    reply = create(client, document({"type": "url", "url": site.url("/doc.pdf")}))
    assert reply.usage.input_tokens == by_url


def test_loopback_is_refused_by_default_even_for_any_host(site: Site) -> None:
    site.hits.clear()
    fetcher = UrlSourceFetcher(UrlSourceSettings(enabled=True, allowed_domains=["*"]))
    with pytest.raises(InvalidRequestError, match="does not fetch from this host"):
        asyncio.run(fetcher.image(site.url("/cat.png"), "where"))
    assert site.hits == {}


def test_url_sources_are_off_by_default(fake_server: LiveServer, site: Site) -> None:
    settings = Settings().url_sources
    assert (settings.enabled, settings.allowed_domains, settings.allowed_networks) == (False, [], [])
    site.hits.clear()
    document = {"type": "document", "source": {"type": "url", "url": site.url("/doc.pdf")}}
    with pytest.raises(anthropic.BadRequestError, match="does not fetch document URLs"):
        create(fake_server.client(), ask(document))
    assert site.hits == {}


def test_an_image_url_inside_a_custom_content_document(vision_server: LiveServer, site: Site) -> None:
    client = vision_server.client()

    def document(picture: dict[str, Any]) -> list[dict[str, Any]]:
        content = [{"type": "text", "text": "A caption."}, picture]
        return ask({"type": "document", "source": {"type": "content", "content": content}})

    assert count(client, document(url_image(site.url("/cat.png")))) == count(client, document(image(PICTURE)))


def test_an_http_image_url_through_the_openai_chat_api(vision_server: LiveServer, site: Site) -> None:
    tokens = openai_prompt_tokens(vision_server, site.url("/cat.png"), 2)
    assert tokens == count(vision_server.client(), ask(image(PICTURE)))


def test_a_request_s_url_sources_are_bounded_in_number_and_bytes(site: Site) -> None:
    def resolve(**limits: int) -> None:
        settings = UrlSourceSettings(
            enabled=True, allowed_domains=["127.0.0.1"], allowed_networks=["127.0.0.0/8"], **limits
        )
        params = MessageCountTokensParams.model_validate(
            {"model": MODEL, "messages": ask(url_image(site.url("/cat.png")), url_image(site.url("/mislabeled")))}
        )
        asyncio.run(resolve_file_documents(params, None, "ws", urls=UrlSourceFetcher(settings), vision=True))

    site.hits.clear()
    with pytest.raises(InvalidRequestError, match="2 URL sources > 1 maximum per request"):
        resolve(max_per_request=1)
    assert site.hits == {}
    with pytest.raises(RequestTooLargeError, match=r"content\.1\.image\.source\.url: the request.s URL sources exceed"):
        resolve(max_request_bytes=len(PICTURE) + 10)
    resolve(max_per_request=2, max_request_bytes=2 * len(PICTURE))
