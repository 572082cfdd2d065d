"""The OpenAPI description matches the app: every route is described, nothing else is,
the document is valid OpenAPI 3.1, and ``GET /openapi.json`` serves it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import schemathesis
from starlette.routing import Route

from conftest import fake_settings
from epistula.api.openapi_table import build_openapi, error_types
from epistula.http.app import create_app

_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def _routed(tmp_path: Path) -> set[tuple[str, str]]:
    # Routes exist before the lifespan runs; the web console (static files, not API) is left out.
    app = create_app(fake_settings(tmp_path, console_enabled=False))
    pairs: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, Route), f"not a plain route, describe it by hand: {route!r}"
        path = _CONVERTOR.sub(r"{\1}", route.path)  # {model_id:path} -> {model_id}
        pairs |= {(method.lower(), path) for method in route.methods or () if method != "HEAD"}
    return pairs


def _described() -> set[tuple[str, str]]:
    return {(method, path) for path, item in build_openapi()["paths"].items() for method in item}


def test_every_route_is_described(tmp_path: Path) -> None:
    missing = _routed(tmp_path) - _described()
    assert not missing, f"routes without an OpenAPI description (see epistula.api.openapi_table): {sorted(missing)}"


def test_every_description_is_routed(tmp_path: Path) -> None:
    extra = _described() - _routed(tmp_path)
    assert not extra, f"described but not routed: {sorted(extra)}"


def test_the_document_is_valid_openapi_3_1() -> None:
    document = build_openapi()
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()


def test_refs_resolve() -> None:
    document = build_openapi()
    text = repr(document)
    for kind, name in set(re.findall(r"#/components/(\w+)/([\w-]+)", text)):
        assert name in document["components"][kind], f"dangling $ref #/components/{kind}/{name}"


def test_error_responses_pin_the_type_of_their_status() -> None:
    """Each described error response allows only the ``error.type`` its status carries."""
    table = error_types()
    for name, response in build_openapi()["components"]["responses"].items():
        status = int(name.rsplit("_", 1)[1])
        pinned = response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]
        assert pinned["properties"]["type"] == {"const": table[status]}, name


def test_served_at_openapi_json(http: httpx.Client) -> None:
    resp = http.get("/openapi.json")  # no key, no version: a public document
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == build_openapi()
