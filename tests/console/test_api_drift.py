"""The console cannot drift from the API: every ``call("METHOD", "/path")`` in its
scripts names a route the app really has, with that method, and no script reaches the
network any other way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import BaseRoute, Match

from conftest import fake_settings
from epistula.http.app import create_app

from .conftest import STATIC_DIR, static_paths

CALL = re.compile(r"""\bcall\(\s*"([A-Z]+)",\s*(?:"([^"]*)"|`([^`]*)`)""")
PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
COMMENTS = re.compile(r"/\*.*?\*/|^[ \t]*//[^\n]*", re.S | re.M)

EXPECTED = {
    ("GET", "/v1/organizations/me"),
    ("GET", "/v1/organizations/workspaces"),
    ("POST", "/v1/organizations/workspaces"),
    ("POST", "/v1/organizations/workspaces/{}/archive"),
    ("GET", "/v1/organizations/api_keys"),
    ("POST", "/v1/organizations/api_keys"),
    ("POST", "/v1/organizations/api_keys/{}"),
    ("GET", "/v1/organizations/usage_report/messages"),
    ("GET", "/v1/organizations/cost_report"),
    ("GET", "/metrics"),
    ("GET", "/v1/models"),
    ("POST", "/v1/messages"),
}
"""What the console's views need; a parser that found less would hide drift."""


def console_calls() -> list[tuple[str, str, str]]:
    """(file, method, path with ``{}`` for each interpolated segment) of every call site."""
    found: list[tuple[str, str, str]] = []
    for path in static_paths():
        if not path.endswith(".mjs"):
            continue
        text = code(path)
        sites = CALL.findall(text)
        assert len(sites) == len(re.findall(r"\bcall\(", text)) - text.count("function call("), (
            f"{path}: a call() whose method and path are not literals"
        )
        for method, plain, template in sites:
            found.append((path, method, plain or PLACEHOLDER.sub("{}", template)))
    return found


def code(path: str) -> str:
    """A script without its comments (which may mention call() or fetch())."""
    return COMMENTS.sub("", (STATIC_DIR / path).read_text())


def routes(tmp_path: Path) -> list[BaseRoute]:
    return list(create_app(fake_settings(tmp_path)).routes)


def test_the_console_calls_every_endpoint_it_needs() -> None:
    assert {(method, path) for _, method, path in console_calls()} == EXPECTED


@pytest.mark.parametrize(("method", "path"), sorted({(m, p) for _, m, p in console_calls()}))
def test_each_call_is_a_route_of_the_app(tmp_path: Path, method: str, path: str) -> None:
    concrete = path.replace("{}", "wrkspc_01example")
    scope = {"type": "http", "method": method, "path": concrete, "root_path": "", "headers": []}
    matches = [route.matches(scope)[0] for route in routes(tmp_path)]
    assert Match.FULL in matches, (
        f"{method} {path}: no route ({'wrong method' if Match.PARTIAL in matches else 'no path'})"
    )
    console = [r for r in routes(tmp_path) if getattr(r, "name", None) == "console"]
    assert console and console[0].matches(scope)[0] == Match.NONE, "an API path would be served as a console file"


def test_a_renamed_route_would_be_caught(tmp_path: Path) -> None:
    """The check can fail: a path the app does not have matches no route."""
    scope = {"type": "http", "method": "GET", "path": "/v1/organizations/usage_reports/messages", "root_path": ""}
    assert Match.FULL not in [route.matches(scope)[0] for route in routes(tmp_path)]
    scope = {"type": "http", "method": "DELETE", "path": "/v1/organizations/api_keys/apikey_01x", "root_path": ""}
    assert Match.FULL not in [route.matches(scope)[0] for route in routes(tmp_path)]


def test_only_api_mjs_touches_the_network() -> None:
    """fetch/XMLHttpRequest/EventSource/WebSocket/sendBeacon appear once: inside call()."""
    for path in static_paths():
        if not path.endswith(".mjs"):
            continue
        text = code(path)
        uses = re.findall(r"\b(fetch\(|XMLHttpRequest|EventSource|WebSocket|sendBeacon|import\()", text)
        if path == "js/api.mjs":
            assert uses == ["fetch("], uses
        else:
            assert not uses, f"{path} reaches the network with {uses}"
