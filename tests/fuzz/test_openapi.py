"""The served OpenAPI document and the mounted routes are one API: every route the app
mounts is described with its methods, every described operation is routed (a real call
reaches its handler: no 404 from the router, no 405) and answers a status it documents,
the document is valid OpenAPI 3.1, and declarations that would drift are refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from conftest import body, fake_settings
from epistula.api.openapi import error_types
from epistula.api.operations import AUTHED_ERRORS, Api
from epistula.api.surface import document
from epistula.http.app import create_app

from .conftest import ADMIN_KEY, ERROR_TYPES, FuzzServer

_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
Pair = tuple[str, str]


@pytest.fixture(scope="module")
def served(fuzz_server: FuzzServer) -> dict[str, Any]:
    resp = httpx.get(fuzz_server.base_url + "/openapi.json")  # no key, no version: a public document
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = resp.json()
    return document


def _mounted(routes: list[Any]) -> set[Pair]:
    """(method, OpenAPI path) of every API route; the web console (static files) is left out."""
    pairs: set[Pair] = set()
    for route in routes:
        if isinstance(route, Mount) and route.name == "console":
            continue
        assert isinstance(route, Route), f"neither a declared operation nor the console: {route!r}"
        path = _CONVERTOR.sub(r"{\1}", route.path)  # {model_id:path} -> {model_id}
        pairs |= {(method.lower(), path) for method in route.methods or () if method != "HEAD"}
    return pairs


def _described(document: dict[str, Any]) -> set[Pair]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def test_every_mounted_route_is_described_with_its_methods(tmp_path: Path, served: dict[str, Any]) -> None:
    """The fuzz server's app, built here from the settings ``epistula serve`` got."""
    mounted = _mounted(create_app(fake_settings(tmp_path, admin_api_key=ADMIN_KEY)).routes)
    assert ("get", "/metrics") in mounted and ("post", "/v1/messages") in mounted, mounted
    missing = mounted - _described(served)
    assert not missing, f"routes missing from /openapi.json: {sorted(missing)}"
    extra = _described(served) - mounted
    assert not extra, f"described but not mounted: {sorted(extra)}"


def test_a_turned_off_api_is_described_but_not_mounted(tmp_path: Path) -> None:
    app = create_app(fake_settings(tmp_path, metrics_enabled=False, console_enabled=False))
    assert _described(document()) - _mounted(app.routes) == {("get", "/metrics")}


class _Ids:
    """Real objects for every id a described path takes, so a 404 could only be the router's."""

    def __init__(self, live: FuzzServer) -> None:
        self.http = httpx.Client(base_url=live.base_url, timeout=30)
        self.user = {"x-api-key": live.api_key, "anthropic-version": "2023-06-01"}
        self.admin = {**self.user, "x-api-key": ADMIN_KEY}
        batch = {"requests": [{"custom_id": "a", "params": body()}]}
        upload = {"file": ("a.txt", b"hello", "text/plain")}
        skill_md = b"---\nname: openapi\ndescription: A skill.\n---\n"
        skill = self.create(
            "/v1/skills", self.user, files=[("files[]", ("openapi/SKILL.md", skill_md, "text/markdown"))]
        )
        workspace = self.create("/v1/organizations/workspaces", self.admin, json={"name": "openapi"})["id"]
        member = {"user_id": "user_01openapi", "workspace_role": "workspace_user"}
        self.values = {
            "model_id": live.model_id,
            "batch_id": self.create("/v1/messages/batches", self.user, json=batch)["id"],
            "file_id": self.create("/v1/files", self.user, files=upload)["id"],
            "skill_id": skill["id"],
            "version": skill["latest_version_id"],
            "api_key_id": self.create("/v1/organizations/api_keys", self.admin, json={"name": "openapi"})["id"],
            "workspace_id": workspace,
            "user_id": self.create(f"/v1/organizations/workspaces/{workspace}/members", self.admin, json=member)[
                "user_id"
            ],
        }

    def create(self, path: str, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
        resp = self.http.post(path, headers=headers, **kwargs)
        assert resp.status_code == 200, resp.text
        created: dict[str, Any] = resp.json()
        return created

    def call(self, method: str, path: str, operation: dict[str, Any]) -> httpx.Response:
        concrete = re.sub(r"\{(\w+)\}", lambda m: self.values[m.group(1)], path)
        admin = {"AdminKey": []} in operation.get("security", [])
        return self.http.request(method, concrete, headers=self.admin if admin else self.user)


def _calls(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every described operation; the ones that remove or archive what later calls need, last."""
    calls = [(m, p, op) for p, item in document["paths"].items() for m, op in item.items()]
    return sorted(
        calls,
        # deletes last, deeper paths first (a skill's version before the skill)
        key=lambda c: (c[0] == "delete", c[1].endswith(("/archive", "/cancel")), -c[1].count("/") * (c[0] == "delete")),
    )


def test_every_described_operation_is_routed_and_answers_a_documented_status(
    fuzz_server: FuzzServer, served: dict[str, Any]
) -> None:
    ids = _Ids(fuzz_server)
    answered: dict[str, int] = {}
    for method, path, operation in _calls(served):
        resp = ids.call(method, path, operation)
        label = f"{method.upper()} {path}"
        answered[label] = resp.status_code
        assert resp.status_code not in (404, 405), f"{label}: {resp.status_code} {resp.text}"
        assert str(resp.status_code) in operation["responses"], f"{label}: undocumented {resp.status_code} {resp.text}"
    assert len(answered) == sum(len(item) for item in served["paths"].values()) >= 37
    assert answered["GET /v1/files/{file_id}"] == 200 and answered["POST /v1/messages"] == 400, answered


def test_served_document_is_the_generated_one(served: dict[str, Any]) -> None:
    assert served == document()


def test_the_document_is_valid_openapi_3_1(served: dict[str, Any]) -> None:
    assert served["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(served).validate()


def test_refs_resolve(served: dict[str, Any]) -> None:
    for kind, name in set(re.findall(r"#/components/(\w+)/([\w-]+)", repr(served))):
        assert name in served["components"][kind], f"dangling $ref #/components/{kind}/{name}"


def test_error_responses_pin_the_type_of_their_status(served: dict[str, Any]) -> None:
    """Each described error response allows only the ``error.type`` that the wire contract's
    table (spec section 1.5, written out in tests/fuzz/conftest.py) gives its status, and the
    exception hierarchy agrees with that table."""
    table = error_types()
    assert served["components"]["responses"]
    for name, response in served["components"]["responses"].items():
        status = int(name.rsplit("_", 1)[1])
        pinned = response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]
        assert pinned["properties"]["type"] == {"const": ERROR_TYPES[status]} == {"const": table[status]}, name


def test_an_undescribed_method_on_a_described_path_is_405(fuzz_server: FuzzServer, served: dict[str, Any]) -> None:
    path = "/v1/messages"
    assert set(served["paths"][path]) == {"post"}
    resp = httpx.request("DELETE", fuzz_server.base_url + path, headers=fuzz_server.headers(), timeout=30)
    assert resp.status_code == 405, resp.text


# ---------------------------------------------------------------- declarations


class _Thing(BaseModel):
    x: int = 0


async def _handler(request: Request) -> Response:
    return Response()


def test_what_every_operation_of_a_kind_answers_is_derived() -> None:
    api = Api("t")
    api.operation("post", "/v1/things/{file_id}", id="a", summary="a", response=_Thing, request=_Thing)(_handler)
    api.operation("get", "/v1/things", id="b", summary="b", response=_Thing)(_handler)
    api.operation("get", "/ping", id="c", summary="c", response=_Thing, auth="none", errors=(429,))(_handler)
    with_body_and_id, plain, public = api.operations
    assert with_body_and_id.errors == tuple(sorted({*AUTHED_ERRORS, 404, 413}))
    assert [p.name for p in with_body_and_id.params if p.where == "path"] == ["file_id"]
    assert plain.errors == AUTHED_ERRORS
    assert public.errors == (429,)


def test_a_route_is_declared_once() -> None:
    api = Api("t")
    api.operation("get", "/x", id="a", summary="a", response=_Thing)(_handler)
    with pytest.raises(ValueError, match="declared twice"):
        api.operation("get", "/x", id="b", summary="b", response=_Thing)(_handler)


def test_an_undescribed_path_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="thing_id"):
        Api("t").operation("get", "/x/{thing_id}", id="a", summary="a", response=_Thing)
