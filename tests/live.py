"""One way to run an epistula app for tests: uvicorn in a daemon thread on a real TCP socket."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def serve_in_thread(app: Any, *, startup_timeout: float = 120.0) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Start ``app`` and return the server, its thread and the base URL once it accepts requests."""
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP;
    # without it every response pays Nagle + delayed-ACK (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"uvicorn-{port}")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the epistula server thread exited during startup (see log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the epistula server did not start within {startup_timeout} s")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"
