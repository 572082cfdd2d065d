"""Issue 11 #5: PDF text extraction runs in a subprocess under CPU and memory limits,
after a byte budget; the page budget is checked before any page is extracted."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import pytest

from epistula.errors import InvalidRequestError
from epistula.files import pdf
from files.test_files_sdk import make_pdf


def _pages(data: bytes) -> tuple[str, ...]:
    return asyncio.run(pdf.pdf_pages(data, "messages.0.content.0"))


def _bomb(decompressed: int) -> bytes:
    """One page whose content stream inflates to ``decompressed`` bytes."""
    packer = zlib.compressobj(1)
    chunk = b" " * (1 << 20)
    stream = b"".join(packer.compress(chunk) for _ in range(decompressed >> 20)) + packer.flush()
    page = make_pdf("x")
    marker = b"<< /Length 32 >>\nstream\nBT /F1 18 Tf 72 720 Td (x) Tj ET\nendstream"
    assert marker in page
    body = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
    return page.replace(marker, body)  # the xref offsets are off: pypdf repairs them


def test_text_comes_back_per_page() -> None:
    assert _pages(make_pdf("First page.", "Second page.")) == ("First page.", "Second page.")


def test_extraction_runs_in_a_limited_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "MEMORY_BYTES", 16 * 1024 * 1024)  # too little to even start Python
    with pytest.raises(InvalidRequestError, match="could not be read"):
        _pages(make_pdf("First page."))


def test_a_decompression_bomb_is_a_400(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "MEMORY_BYTES", 200 * 1024 * 1024)
    with pytest.raises(InvalidRequestError) as info:
        _pages(_bomb(1 << 28))
    assert info.value.message.startswith("messages.0.content.0: The PDF specified could not be read")


def test_byte_budget_is_checked_before_a_process_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a process was started")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", refuse)
    with pytest.raises(InvalidRequestError, match="at most 32 MB"):
        _pages(b"%PDF-1.4\n" + b"0" * pdf.MAX_PDF_BYTES)


def test_page_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "MAX_PDF_PAGES", 2)
    with pytest.raises(InvalidRequestError, match="A maximum of 2 PDF pages"):
        _pages(make_pdf("a", "b", "c"))


def test_parser_messages_are_not_echoed() -> None:
    with pytest.raises(InvalidRequestError) as info:
        _pages(b"%PDF-1.4\nnot really a pdf")
    assert info.value.message == "messages.0.content.0: The PDF specified could not be read"


def test_wall_time_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "WALL_SECONDS", 0.001)
    with pytest.raises(InvalidRequestError, match="took too long"):
        _pages(make_pdf("First page."))
