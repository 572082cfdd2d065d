"""PDF pages as images for a model that sees: rendered by PDFium in the PDF sandbox child
at a bounded size, the same bytes every time (so a cached PDF prefix is reused), and not
rendered at all for a text-only model."""

from __future__ import annotations

import asyncio
import base64
import struct

import anthropic

from conftest import MODEL, LiveServer
from epistula.files import pdf
from epistula.files.service import pdf_source
from files.test_files_sdk import make_pdf

from .test_vision_sdk import ask


def _size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def test_pages_are_rendered_within_the_size_bound() -> None:
    wide = make_pdf("A wide page.", "A letter page.").replace(
        b"/MediaBox [0 0 612 792]", b"/MediaBox [0 0 20000 300]", 1
    )
    pages, images = asyncio.run(pdf.pdf_pages_and_images(wide, "w"))
    assert pages == ("A wide page.", "A letter page.")
    width, height = _size(images[0])  # 20000 x 300 points scaled to 1024 wide
    assert width == pdf.PAGE_IMAGE_SIDE and 15 <= height <= 16
    assert _size(images[1]) == (792, pdf.PAGE_IMAGE_SIDE)
    again = asyncio.run(pdf.pdf_pages_and_images(wide, "w"))
    assert again[1] == images, "the same PDF renders the same bytes (prefix identity)"


def test_a_text_only_model_gets_no_page_images() -> None:
    source = asyncio.run(pdf_source(make_pdf("Only text."), "w", None, images=False))
    assert source.pages == ("Only text.",)
    assert source.page_images is None


def test_a_cached_pdf_with_page_images_is_reused(vision_server: LiveServer) -> None:
    client = vision_server.client()
    data = base64.b64encode(make_pdf("Cache me.")).decode()
    document = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": data},
        "cache_control": {"type": "ephemeral"},
    }

    def create() -> anthropic.types.Usage:
        return client.messages.create(model=MODEL, max_tokens=1, messages=ask(document)).usage  # type: ignore[arg-type]

    first = create()
    assert (first.cache_creation_input_tokens or 0) > 0
    second = create()
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
