"""PDF text extraction (and page images, for vision models) in a sandboxed subprocess.

A hostile PDF can make a parser loop or allocate without bound, so pypdf and PDFium never
run in the server process: each extraction is a fresh ``python -m epistula.files.pdf`` child
that first limits its own CPU time and address space (``resource.setrlimit``), reads the PDF
on stdin, checks the page budget before extracting anything, and writes the page texts
(and, when asked, each page rendered by PDFium as a PNG of at most :data:`PAGE_IMAGE_SIDE`
pixels on its longer side) as JSON. The server checks the byte budget before starting it,
bounds the wall time, runs a few at a time, and turns any failure into a 400 without
echoing the parser's message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import weakref
from pathlib import Path

from epistula.errors import InvalidRequestError

MAX_PDF_PAGES = 100
MAX_PDF_BYTES = 32 * 1024 * 1024
"""The largest PDF extracted (the real API's PDF limit)."""
CPU_SECONDS = 30
MEMORY_BYTES = 2 * 1024 * 1024 * 1024
"""Address-space limit of the child (the interpreter and pypdf take about 100 MB)."""
WALL_SECONDS = 60.0
CONCURRENCY = 2
PAGE_IMAGE_SIDE = 1024
"""The longer side, in pixels, of a rendered page image (the real API's long side is ~1568)."""
"""Extractions running at once per event loop; others wait their turn."""

_TOO_MANY_PAGES = "too_many_pages"
_UNREADABLE = "unreadable"
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(CONCURRENCY)
    return _slots[loop]


def _child_env() -> dict[str, str]:
    """The child imports this very package, wherever it was loaded from."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


async def pdf_pages(data: bytes, where: str) -> tuple[str, ...]:
    """The text of each page of the PDF ``data``, in order (pypdf's extraction, stripped)."""
    pages, _ = await _read(data, where, images=False)
    return pages


async def pdf_pages_and_images(data: bytes, where: str) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """The text of each page and each page as a PNG image (for a model that sees)."""
    return await _read(data, where, images=True)


async def _read(data: bytes, where: str, *, images: bool) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    if len(data) > MAX_PDF_BYTES:
        raise InvalidRequestError(f"{where}: A PDF may be at most {MAX_PDF_BYTES // (1024 * 1024)} MB.")
    async with _slot():
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "epistula.files.pdf",
            str(CPU_SECONDS),
            str(MEMORY_BYTES),
            str(MAX_PDF_PAGES),
            str(PAGE_IMAGE_SIDE if images else 0),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=_child_env(),
        )
        timed_out = False
        try:
            out, _ = await asyncio.wait_for(proc.communicate(data), WALL_SECONDS)
        except TimeoutError:
            out, timed_out = b"", True
        finally:  # also when the request is cancelled: never leave a child behind
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    if timed_out:
        raise InvalidRequestError(f"{where}: The PDF specified could not be read (it took too long)")
    try:
        result = json.loads(out) if proc.returncode == 0 else {"error": _UNREADABLE}
    except ValueError:
        result = {"error": _UNREADABLE}
    if result.get("error") == _TOO_MANY_PAGES:
        raise InvalidRequestError(f"{where}: A maximum of {MAX_PDF_PAGES} PDF pages may be provided.")
    if "pages" not in result:
        raise InvalidRequestError(f"{where}: The PDF specified could not be read")
    pages = tuple(str(page) for page in result["pages"])
    pngs = tuple(base64.b64decode(png) for png in result.get("images", ()))
    if images and len(pngs) != len(pages):
        raise InvalidRequestError(f"{where}: The PDF specified could not be read")
    return pages, pngs


# ---------------------------------------------------------------- the child


def _limit_self(cpu_seconds: int, memory_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _png(width: int, height: int, rows: bytes, stride: int) -> bytes:
    """An 8-bit RGB PNG of ``height`` rows of ``stride`` bytes (the first ``3 * width`` used)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + rows[y * stride : y * stride + 3 * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def _page_images(data: bytes, side: int) -> list[str]:
    """Each page rendered by PDFium (white background, RGB), its longer side ``side`` pixels
    at most, as base64 PNGs."""
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    try:
        images = []
        for index in range(len(document)):
            page = document[index]
            width, height = page.get_size()
            scale = min(side / max(width, height, 1.0), 4.0)
            bitmap = page.render(scale=scale, rev_byteorder=True, force_bitmap_format=pypdfium2.raw.FPDFBitmap_BGR)
            rows = bytes(bitmap.buffer)
            images.append(base64.b64encode(_png(bitmap.width, bitmap.height, rows, bitmap.stride)).decode())
            bitmap.close()
            page.close()
        return images
    finally:
        document.close()


def _extract(data: bytes, max_pages: int, image_side: int) -> dict[str, object]:
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if len(reader.pages) > max_pages:
            return {"error": _TOO_MANY_PAGES}
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        if image_side <= 0:
            return {"pages": pages}
        return {"pages": pages, "images": _page_images(data, image_side)}
    except Exception:  # any parser failure (MemoryError, RecursionError too) is "could not be read"
        return {"error": _UNREADABLE}


def main(argv: list[str]) -> None:
    """``python -m epistula.files.pdf CPU_SECONDS MEMORY_BYTES MAX_PAGES IMAGE_SIDE`` < pdf > json
    (``IMAGE_SIDE`` 0: no page images)."""
    cpu_seconds, memory_bytes, max_pages, image_side = (int(arg) for arg in argv)
    _limit_self(cpu_seconds, memory_bytes)
    data = sys.stdin.buffer.read()
    sys.stdout.buffer.write(json.dumps(_extract(data, max_pages, image_side)).encode())


if __name__ == "__main__":
    main(sys.argv[1:])
