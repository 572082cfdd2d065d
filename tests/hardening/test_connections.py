"""Issue 11 #11: the server `epistula serve` builds cuts off slow-loris clients and slow
bodies, and applies the connection settings."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from conftest import API_KEY
from epistula.config import Settings
from epistula.http.app import create_app
from epistula.http.server import uvicorn_config

TRICKLE_FOR = 30.0
"""How long the slow client keeps going if the server never cuts it off (the test then fails)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    settings = Settings(
        engine="fake",
        api_key=API_KEY,
        data_dir=tmp_path_factory.mktemp("connections"),
        port=0,
        timeout_request_headers=1.0,
        timeout_request_body=1.0,
        limit_concurrency=50,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn_config(create_app(settings), settings, timeout_graceful_shutdown=2)
    assert config.limit_concurrency == 50
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield sock.getsockname()
    server.should_exit = True
    thread.join(30)


def _connect(address: tuple[str, int]) -> socket.socket:
    conn = socket.create_connection(address, timeout=TRICKLE_FOR)
    conn.settimeout(0.2)
    return conn


def _closed_while_trickling(conn: socket.socket, data: bytes) -> bool:
    """Send ``data`` a byte at a time; True when the server closes the connection first."""
    stop = time.monotonic() + TRICKLE_FOR
    for byte in data:
        if time.monotonic() > stop:
            return False
        try:
            conn.sendall(bytes([byte]))
            if conn.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def _response(conn: socket.socket) -> bytes:
    conn.settimeout(TRICKLE_FOR)
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = conn.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def test_a_slow_loris_client_is_cut_off(server: tuple[str, int]) -> None:
    header = b"GET /health HTTP/1.1\r\nhost: x\r\n" + b"".join(b"x-pad-%d: %s\r\n" % (i, b"a" * 40) for i in range(400))
    with _connect(server) as conn:
        assert _closed_while_trickling(conn, header + b"\r\n")


def test_an_idle_keep_alive_connection_cannot_trickle_either(server: tuple[str, int]) -> None:
    with _connect(server) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        assert _response(conn).startswith(b"HTTP/1.1 200")
        conn.settimeout(0.2)
        header = b"GET /health HTTP/1.1\r\nhost: x\r\n" + b"x-pad: " + b"a" * 20000 + b"\r\n\r\n"
        assert _closed_while_trickling(conn, header)


def test_a_body_that_never_arrives_is_a_400(server: tuple[str, int]) -> None:
    with _connect(server) as conn:
        conn.sendall(
            b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"x-api-key: " + API_KEY.encode() + b"\r\nanthropic-version: 2023-06-01\r\n"
            b"content-length: 100\r\n\r\n{"
        )
        response = _response(conn)
    assert response.startswith(b"HTTP/1.1 400")


def test_a_prompt_client_is_served(server: tuple[str, int]) -> None:
    with _connect(server) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        assert _response(conn).startswith(b"HTTP/1.1 200")
