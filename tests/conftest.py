"""Shared fixtures: real epistula servers on real sockets, and clients that talk to them.

Every server runs ``uvicorn.Server`` in a background thread on a socket bound to a
free port; tests use the official ``anthropic`` SDK (``max_retries=0`` unless retries
are under test) or raw ``httpx`` for what the SDK hides.

Servers (session-scoped, started lazily on first use):

* ``fake_server``       - fake engine, default settings (ping every 5 s).
* ``fast_ping_server``  - fake engine, ``ping_interval=0.2`` and ``first_event_wait=0.1``.
* ``small_body_server`` - fake engine, ``max_body_bytes=4096`` (body-limit paths without 32 MB uploads).
* ``model_server``      - the real llama.cpp engine (SmolLM2-135M), ``n_seq_max=8``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

# Hermetic settings: nothing from the developer's shell leaks into the servers under test
# (``EPISTULA_TEST_*`` variables configure test suites, not servers, and are kept).
for _name in list(os.environ):
    if _name.startswith("EPISTULA_") and not _name.startswith("EPISTULA_TEST_"):
        del os.environ[_name]

from epistula.config import Settings  # noqa: E402
from epistula.http.app import create_app  # noqa: E402
from live import serve_in_thread  # noqa: E402
from skip_policy import install as install_skip_policy  # noqa: E402

API_KEY = "sk-test"
V2023 = "2023-06-01"
V2026 = "2026-10-21"
GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_configure(config: pytest.Config) -> None:
    # Only the reasons in tests/allowed_skips.txt may skip a test (under CI=true; see skip_policy).
    install_skip_policy(config)


@dataclass
class LiveServer:
    """A running epistula app (in this process) reachable over TCP."""

    app: Any
    server: Any
    thread: threading.Thread
    base_url: str
    api_key: str

    @property
    def state(self) -> Any:
        return self.app.state.epistula

    @property
    def engine(self) -> Any:
        return self.state.catalog.models[0].engine

    @property
    def model_id(self) -> str:
        return str(self.state.catalog.models[0].id)

    def headers(self, version: str | None = V2023, **extra: str) -> dict[str, str]:
        """Headers of a well-formed raw request (x-api-key auth)."""
        headers = {"x-api-key": self.api_key, "content-type": "application/json"}
        if version is not None:
            headers["anthropic-version"] = version
        headers.update(extra)
        return headers

    def client(self, *, version: str | None = None, **kwargs: Any) -> anthropic.Anthropic:
        """The official SDK against this server. ``version`` overrides ``anthropic-version``."""
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 60.0)
        kwargs.setdefault("api_key", self.api_key)
        if version is not None:
            kwargs["default_headers"] = {**kwargs.get("default_headers", {}), "anthropic-version": version}
        return anthropic.Anthropic(base_url=self.base_url, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(settings: Settings, *, api_key: str = API_KEY, startup_timeout: float = 120.0) -> LiveServer:
    app = create_app(settings)
    server, thread, base_url = serve_in_thread(app, startup_timeout=startup_timeout)
    return LiveServer(app=app, server=server, thread=thread, base_url=base_url, api_key=api_key)


def serving(settings: Settings, *, start: Callable[..., Any] = start_server, **options: Any) -> Iterator[Any]:
    """A fixture's server: ``yield from serving(settings)`` starts it (with ``start``, which
    ``options`` go to), hands it to the tests, and stops it at teardown."""
    live = start(settings, **options)
    try:
        yield live
    finally:
        live.stop()


running = contextlib.contextmanager(serving)
"""``with running(settings) as live:``: a test's own server, stopped when the block ends."""


def client_fixture(server: str = "live") -> Any:
    """A module's ``client`` fixture: the SDK against the module's own ``server`` fixture
    (``client = client_fixture()`` in a module that defines ``live``)."""

    @pytest.fixture(scope="module", name="client")
    def module_client(request: pytest.FixtureRequest) -> anthropic.Anthropic:
        live: LiveServer = request.getfixturevalue(server)
        return live.client()

    return module_client


def fake_settings(tmp: Path, **overrides: Any) -> Settings:
    return Settings(engine="fake", api_key=API_KEY, data_dir=tmp, **overrides)


def model_settings(tmp: Path, **overrides: Any) -> Settings:
    """The embedded llama.cpp engine on the default model (for tests marked ``model``)."""
    return Settings(engine="llamacpp", api_key=API_KEY, data_dir=tmp, **overrides)


MODEL_STARTUP = 300.0
"""Seconds a real-model server may take to start (the model loads first)."""


def server_fixture(
    name: str,
    data_dir: str,
    settings: Callable[..., Settings] = fake_settings,
    *,
    start: Callable[..., Any] = start_server,
    startup_timeout: float | None = None,
    **overrides: Any,
) -> Any:
    """A module's server fixture ``name``: ``settings(<a temporary data_dir>, **overrides)``,
    started by ``start`` (``server = server_fixture("server", "quotas", batch_concurrency=1)``)."""
    options = {} if startup_timeout is None else {"startup_timeout": startup_timeout}

    @pytest.fixture(scope="module", name=name)
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
        yield from serving(settings(tmp_path_factory.mktemp(data_dir), **overrides), start=start, **options)

    return server


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serving(fake_settings(tmp_path_factory.mktemp("fake")))


@pytest.fixture(scope="session")
def fast_ping_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serving(fake_settings(tmp_path_factory.mktemp("fast-ping"), ping_interval=0.2, first_event_wait=0.1))


@pytest.fixture(scope="session")
def small_body_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serving(fake_settings(tmp_path_factory.mktemp("small-body"), max_body_bytes=4096))


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serving(model_settings(tmp_path_factory.mktemp("model"), n_seq_max=8), startup_timeout=MODEL_STARTUP)


@pytest.fixture(scope="session")
def client(fake_server: LiveServer) -> anthropic.Anthropic:
    """SDK defaults: ``anthropic-version: 2026-10-21``, ``Authorization: Bearer``."""
    return fake_server.client()


@pytest.fixture(scope="session")
def client_2023(fake_server: LiveServer) -> anthropic.Anthropic:
    return fake_server.client(version=V2023)


@pytest.fixture()
def http(fake_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_server.base_url, timeout=30.0) as c:
        yield c


@pytest.fixture(scope="session")
def update_golden() -> bool:
    return os.environ.get("UPDATE_GOLDEN") == "1"


# ---------------------------------------------------------------- helpers shared by the suites
# (imported as ``from conftest import ...``; pytest puts tests/ on sys.path)


REQUEST_ID_RE = re.compile(r"req_[A-Za-z0-9]{10,}")
MESSAGE_ID_RE = re.compile(r"msg_[A-Za-z0-9]{10,}")
TOOL_ID_RE = re.compile(r"toolu_[A-Za-z0-9]{10,}")
MODEL = "claude-haiku-4-5"

_SPECIAL_RE = re.compile(r"<\|im_start\|>|<\|im_end\|>|<\|endoftext\|>")


def add_key(live: LiveServer, workspace_id: str) -> anthropic.Anthropic:
    """A client whose new API key belongs to ``workspace_id`` (its own prompt-cache namespace:
    a request never reuses KV state of another workspace)."""
    keys = live.state.keys
    if hasattr(keys, "workspaces"):
        keys.workspaces.ensure(workspace_id)
    key = "sk-test-" + secrets.token_hex(8)
    keys.add(key, name=f"test-{workspace_id}", workspace_id=workspace_id)
    return live.client(api_key=key)


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def body(text: str = "#say:hi", *, model: str = MODEL, max_tokens: int = 64, **extra: Any) -> dict[str, Any]:
    """A minimal valid Messages request body with one user turn."""
    return {"model": model, "max_tokens": max_tokens, "messages": [user(text)], **extra}


def chatml(messages: list[tuple[str, str]], *, prefill: str = "") -> str:
    """What the ChatML template renders (independent re-implementation for the fake engine)."""
    text = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return text + "<|im_start|>assistant\n" + prefill


def fake_tokens(text: str) -> int:
    """The fake engine's tokenizer: one token per UTF-8 byte, one per ChatML special."""
    return len(_SPECIAL_RE.sub("\x00", text).encode())


def assert_error(
    resp: httpx.Response,
    status: int,
    error_type: str,
    message: str | None = None,
    *,
    contains: str | None = None,
) -> dict[str, Any]:
    """The Anthropic error envelope, with ``request_id`` equal to the ``request-id`` header."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    payload = resp.json()
    assert set(payload) == {"type", "error", "request_id"}, payload
    assert payload["type"] == "error"
    error = payload["error"]
    assert set(error) <= {"type", "message", "details"} and {"type", "message"} <= set(error), error
    assert error["type"] == error_type, payload
    assert isinstance(error["message"], str) and error["message"], payload
    assert REQUEST_ID_RE.fullmatch(payload["request_id"]), payload
    assert resp.headers.get("request-id") == payload["request_id"]
    if message is not None:
        assert error["message"] == message
    if contains is not None:
        assert contains.lower() in error["message"].lower(), error["message"]
    return payload


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body strictly: every event has one ``event:`` and one ``data:`` line,
    and the JSON's ``type`` equals the event name."""
    events: list[tuple[str, dict[str, Any]]] = []
    text = text.replace("\r\n", "\n")
    assert text.endswith("\n\n") or not text, f"stream does not end with a blank line: {text[-80:]!r}"
    for chunk in text.split("\n\n"):
        if not chunk:
            continue
        lines = chunk.split("\n")
        names = [ln[len("event: ") :] for ln in lines if ln.startswith("event: ")]
        datas = [ln[len("data: ") :] for ln in lines if ln.startswith("data: ")]
        assert len(names) == 1 and len(datas) == 1 and len(lines) == 2, f"bad SSE frame: {chunk!r}"
        data = json.loads(datas[0])
        assert data.get("type") == names[0], f"event {names[0]} carries type {data.get('type')}"
        events.append((names[0], data))
    return events


def normalise_ids(text: str) -> str:
    """Replace generated ids by placeholders (golden transcripts)."""
    text = MESSAGE_ID_RE.sub("msg_<ID>", text)
    text = TOOL_ID_RE.sub("toolu_<ID>", text)
    return REQUEST_ID_RE.sub("req_<ID>", text)


EventShape = tuple[str, int | None, str | None]


def event_shapes(events: list[tuple[str, dict[str, Any]]]) -> list[EventShape]:
    """Each event as (name, index, block or delta type), a run of equal ones (the deltas
    of one block) as one."""
    shape = [
        (name, data.get("index"), (data.get("content_block") or data.get("delta") or {}).get("type"))
        for name, data in events
    ]
    return [item for i, item in enumerate(shape) if i == 0 or shape[i - 1] != item]


def server_tool_turn(result_type: str) -> list[EventShape]:
    """The :func:`event_shapes` of a turn that says something, calls a server tool, gets
    its ``result_type`` block (sent complete, without deltas) and answers."""
    return [
        ("message_start", None, None),
        ("content_block_start", 0, "text"),
        ("content_block_delta", 0, "text_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "server_tool_use"),
        ("content_block_delta", 1, "input_json_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, result_type),
        ("content_block_stop", 2, None),
        ("content_block_start", 3, "text"),
        ("content_block_delta", 3, "text_delta"),
        ("content_block_stop", 3, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]


def streamed_tool_turn(
    live: LiveServer, body: dict[str, Any], tool: str, result_type: str, headers: dict[str, str] | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """Streams ``body``, a turn that calls server tool ``tool``: checks that its events (pings
    left out) are a :func:`server_tool_turn` with ``result_type`` and that the
    ``server_tool_use`` block starts with empty input; returns the events and that block."""
    response = httpx.post(f"{live.base_url}/v1/messages", json=body, headers=headers or live.headers(), timeout=60)
    assert response.status_code == 200
    events = [(name, data) for name, data in parse_sse(response.text) if name != "ping"]
    assert event_shapes(events) == server_tool_turn(result_type)
    use: dict[str, Any] = next(data["content_block"] for _, data in events if data.get("index") == 1)
    assert use == {"type": "server_tool_use", "id": use["id"], "name": tool, "input": {}, "caller": {"type": "direct"}}
    return events, use


def stop_reference(text: str, stops: list[str]) -> tuple[str, str | None]:
    """What stop sequences should do to ``text``, written plainly: it ends at the earliest
    position where any (non-empty) stop sequence is complete, the longest one completed
    there is reported, and the matched text is not part of the output."""
    stops = [s for s in stops if s]
    for end in range(1, len(text) + 1):
        done = [s for s in stops if text[:end].endswith(s)]
        if done:
            stop = max(done, key=len)
            return text[: end - len(stop)], stop
    return text, None


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass (a guard against
    hanging, not a timing assertion); whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
