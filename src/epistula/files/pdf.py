"""PDF text extraction in a sandboxed subprocess.

A hostile PDF can make a parser loop or allocate without bound, so pypdf never runs in
the server process: each extraction is a fresh ``python -m epistula.files.pdf`` child that
first limits its own CPU time and address space (``resource.setrlimit``), reads the PDF
on stdin, checks the page budget before extracting anything, and writes the page texts
as JSON. The server checks the byte budget before starting it, bounds the wall time, runs
a few at a time, and turns any failure into a 400 without echoing the parser's message.
"""

from __future__ import annotations

import asyncio
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
    return tuple(str(page) for page in result["pages"])


# ---------------------------------------------------------------- the child


def _limit_self(cpu_seconds: int, memory_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _extract(data: bytes, max_pages: int) -> dict[str, object]:
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if len(reader.pages) > max_pages:
            return {"error": _TOO_MANY_PAGES}
        return {"pages": [(page.extract_text() or "").strip() for page in reader.pages]}
    except Exception:  # any parser failure (MemoryError, RecursionError too) is "could not be read"
        return {"error": _UNREADABLE}


def main(argv: list[str]) -> None:
    """``python -m epistula.files.pdf CPU_SECONDS MEMORY_BYTES MAX_PAGES`` < pdf > json"""
    cpu_seconds, memory_bytes, max_pages = (int(arg) for arg in argv)
    _limit_self(cpu_seconds, memory_bytes)
    data = sys.stdin.buffer.read()
    sys.stdout.buffer.write(json.dumps(_extract(data, max_pages)).encode())


if __name__ == "__main__":
    main(sys.argv[1:])
