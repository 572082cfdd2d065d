"""The OpenAPI description the server serves matches the server: every route of the app
that serves ``GET /openapi.json`` is described and nothing else is, every described
operation answers on the wire (an unauthenticated call gets the 401 its security asks for,
never the router's 404 or 405), the document is valid OpenAPI 3.1, and each error response
pins the ``error.type`` the wire contract gives its status."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from starlette.routing import Mount, Route

from conftest import LiveServer
from epistula.http.routes.console import PREFIX as CONSOLE_PREFIX

from .conftest import ERROR_TYPES

_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def served(fake_server: LiveServer) -> dict[str, Any]:
    resp = httpx.get(fake_server.base_url + "/openapi.json", timeout=30)  # no key, no version: public
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = resp.json()
    return document


def _routed(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every API route of the running app; the console's static files
    (a mount, not API) are left out."""
    pairs: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Mount) and route.path == CONSOLE_PREFIX:
            continue
        assert isinstance(route, Route), f"not a plain route, describe it by hand: {route!r}"
        path = _CONVERTOR.sub(r"{\1}", route.path)  # {model_id:path} -> {model_id}
        pairs |= {(method.lower(), path) for method in route.methods or () if method != "HEAD"}
    return pairs


def _described(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


def test_every_route_is_described(fake_server: LiveServer, served: dict[str, Any]) -> None:
    missing = _routed(fake_server.app) - _described(served)
    assert not missing, f"routes without an OpenAPI description (add them to epistula.openapi): {sorted(missing)}"


def test_every_description_is_routed(fake_server: LiveServer, served: dict[str, Any]) -> None:
    extra = _described(served) - _routed(fake_server.app)
    assert not extra, f"described but not routed: {sorted(extra)}"


def test_every_described_operation_answers_on_the_wire(fake_server: LiveServer, served: dict[str, Any]) -> None:
    """Without credentials an operation that needs them answers 401 in the Anthropic envelope
    (so the router found it); a public one answers anything but the router's 404 and 405."""
    default_security = served["security"]
    with httpx.Client(base_url=fake_server.base_url, timeout=30) as http:
        for path, item in served["paths"].items():
            url = re.sub(r"\{\w+\}", "x", path)
            for method in set(item) & HTTP_METHODS:
                resp = http.request(method.upper(), url)
                if item[method].get("security", default_security):
                    assert resp.status_code == 401, (method, path, resp.status_code, resp.text)
                    assert resp.json()["error"]["type"] == "authentication_error", (method, path, resp.text)
                else:
                    assert resp.status_code not in (404, 405), (method, path, resp.status_code, resp.text)


def test_an_undescribed_method_on_a_described_path_is_405(fake_server: LiveServer, served: dict[str, Any]) -> None:
    path = "/v1/messages"
    assert set(served["paths"][path]) & HTTP_METHODS == {"post"}
    resp = httpx.request("DELETE", fake_server.base_url + path, headers=fake_server.headers(), timeout=30)
    assert resp.status_code == 405, resp.text


def test_the_document_is_valid_openapi_3_1(served: dict[str, Any]) -> None:
    assert served["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(served).validate()


def test_refs_resolve(served: dict[str, Any]) -> None:
    text = repr(served)
    for kind, name in set(re.findall(r"#/components/(\w+)/([\w-]+)", text)):
        assert name in served["components"][kind], f"dangling $ref #/components/{kind}/{name}"


def test_error_responses_pin_the_type_of_their_status(served: dict[str, Any]) -> None:
    """Each described error response allows only the ``error.type`` the wire contract's
    table (spec §1.5, written out in tests/fuzz/conftest.py) gives its status."""
    responses = served["components"]["responses"]
    assert responses
    for name, response in responses.items():
        status = int(name.rsplit("_", 1)[1])
        pinned = response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]
        assert pinned["properties"]["type"] == {"const": ERROR_TYPES[status]}, name
