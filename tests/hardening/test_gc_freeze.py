"""The /health bound under fuzz: ``epistula serve`` freezes what its startup left alive, so
that a full garbage collection (which stops the event loop) traverses only what requests
left behind, not every module and schema of the process."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from epistula.http.server import Server


async def _app(
    scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


def test_the_server_freezes_what_its_startup_left_alive() -> None:
    gc.unfreeze()  # whatever an earlier test's server froze
    server = Server(uvicorn.Config(_app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        assert gc.get_freeze_count() > 1000  # every object this test process had then
    finally:
        server.should_exit = True
        thread.join(30)
        gc.unfreeze()
