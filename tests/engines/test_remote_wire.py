"""The remote engine's SSE client (``engines/remote/wire.py``) against raw socket servers:
bytes split anywhere, keep-alive reuse, a server that closed the idle connection, error
answers, bodies delimited by length or by the close, and a silent server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from epistula.engines.remote.wire import Pool, WireError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
EVENTS = [{"tokens": [i], "stop": i == 2} for i in range(3)]


def sse_chunked() -> bytes:
    body = b""
    for event in EVENTS:
        data = b"data: " + json.dumps(event).encode() + b"\n\n"
        body += b"%x\r\n%s\r\n" % (len(data), data)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


async def read_request(reader: asyncio.StreamReader) -> dict[str, object]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    return dict(json.loads(await reader.readexactly(length)))


async def collect(pool: Pool) -> list[object]:
    return [json.loads(data) for data in [d async for d in pool.sse("/completion", {"prompt": [1, 2]})]]


async def serving(handler: Handler, check: Callable[[Pool], Awaitable[None]], *, read_timeout: float = 5.0) -> None:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool(f"http://127.0.0.1:{port}/", connect_timeout=2.0, read_timeout=read_timeout)
    try:
        await check(pool)
    finally:
        pool.close()
        server.close()


def test_events_split_byte_by_byte_and_the_connection_is_reused() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for _ in range(2):
            assert await read_request(reader) == {"prompt": [1, 2]}
            for byte in sse_chunked():
                writer.write(bytes([byte]))
                await writer.drain()
        writer.close()

    async def check(pool: Pool) -> None:
        assert await collect(pool) == EVENTS
        assert await collect(pool) == EVENTS
        assert (pool.opened, connections) == (1, 1)

    asyncio.run(serving(handler, check))


def test_a_closed_idle_connection_is_replaced() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(sse_chunked())
        await writer.drain()
        writer.close()  # no keep-alive after all, and no "Connection: close" said

    async def check(pool: Pool) -> None:
        assert await collect(pool) == EVENTS
        assert await collect(pool) == EVENTS
        assert pool.opened == 2

    asyncio.run(serving(handler, check))


def test_error_answers_carry_status_and_detail() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = b'{"error": "bad grammar"}'
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async def check(pool: Pool) -> None:
        with pytest.raises(WireError) as failed:
            await collect(pool)
        assert failed.value.status == 400 and "bad grammar" in failed.value.detail

    asyncio.run(serving(handler, check))


def test_a_body_delimited_by_the_close_and_an_error_line() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ndata: {"tokens": [7]}\r\n\r\n')
        if request["prompt"] == [9]:
            writer.write(b'error: {"message": "slot lost"}\n\n')
        await writer.drain()
        writer.close()

    async def check(pool: Pool) -> None:
        assert await collect(pool) == [{"tokens": [7]}]
        with pytest.raises(WireError, match="slot lost"):
            async for _ in pool.sse("/completion", {"prompt": [9]}):
                pass

    asyncio.run(serving(handler, check))


def test_a_silent_server_times_out_and_a_broken_one_fails() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        if request["prompt"] == [1, 2]:
            await asyncio.sleep(2)  # silent past the read timeout
        else:
            writer.write(b"zz\r\n")
        await writer.drain()
        writer.close()

    async def check(pool: Pool) -> None:
        with pytest.raises(WireError, match="timed out"):
            await collect(pool)
        with pytest.raises(WireError, match="bad chunk size"):
            async for _ in pool.sse("/completion", {"prompt": [3]}):
                pass

    asyncio.run(serving(handler, check, read_timeout=0.3))


def test_a_backlog_pauses_reading_and_the_connection_still_serves_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("epistula.engines.remote.wire.PAUSE_AT", 2)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            await read_request(reader)
            writer.write(sse_chunked())  # all three events in one read: over the backlog limit
            await writer.drain()

    async def check(pool: Pool) -> None:
        assert await collect(pool) == EVENTS
        assert await collect(pool) == EVENTS
        assert pool.opened == 1

    asyncio.run(serving(handler, check))
