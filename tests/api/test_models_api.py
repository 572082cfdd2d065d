"""``GET /v1/models`` (pagination) and ``GET /v1/models/{id}``."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from conftest import API_KEY, V2023, LiveServer, assert_error

HEADERS = {"x-api-key": API_KEY, "anthropic-version": V2023}
REQUIRED_ALIASES = ["claude-opus-4-6", "claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-5-5"]


def get(http: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return http.get(path, params=params, headers=HEADERS)


@pytest.fixture(scope="module")
def all_ids(fake_server: LiveServer) -> list[str]:
    with httpx.Client(base_url=fake_server.base_url) as c:
        page = c.get("/v1/models", params={"limit": 1000}, headers=HEADERS).json()
    assert page["has_more"] is False
    return [m["id"] for m in page["data"]]


def test_list_shape(http: httpx.Client) -> None:
    resp = get(http, "/v1/models")
    assert resp.status_code == 200
    page = resp.json()
    assert set(page) == {"data", "has_more", "first_id", "last_id"}
    assert page["data"], "no models listed"
    assert page["first_id"] == page["data"][0]["id"]
    assert page["last_id"] == page["data"][-1]["id"]
    for info in page["data"]:
        assert info["type"] == "model"
        assert isinstance(info["id"], str) and info["id"]
        assert isinstance(info["display_name"], str) and info["display_name"]
        assert info["created_at"].endswith("Z")


def test_default_page_size_is_20(http: httpx.Client, all_ids: list[str]) -> None:
    page = get(http, "/v1/models").json()
    assert len(page["data"]) == min(20, len(all_ids))
    assert page["has_more"] is (len(all_ids) > 20)


def test_claude_ids_and_the_served_model_are_listed(fake_server: LiveServer, all_ids: list[str]) -> None:
    assert fake_server.model_id in all_ids
    for alias in REQUIRED_ALIASES:
        assert alias in all_ids
    assert len(all_ids) == len(set(all_ids)), "duplicate ids in the list"


def test_every_listed_model_answers_messages(fake_server: LiveServer, http: httpx.Client, all_ids: list[str]) -> None:
    for model_id in all_ids:
        resp = http.post(
            "/v1/messages",
            json={"model": model_id, "max_tokens": 8, "messages": [{"role": "user", "content": "#say:ok"}]},
            headers=HEADERS,
        )
        assert resp.status_code == 200, (model_id, resp.text)
        assert resp.json()["model"] == model_id


def test_limit_and_after_id_walk_the_whole_list(http: httpx.Client, all_ids: list[str]) -> None:
    assert len(all_ids) >= 5
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = get(http, "/v1/models", **params).json()
        ids = [m["id"] for m in page["data"]]
        assert len(ids) <= 2
        assert page["first_id"] == ids[0] and page["last_id"] == ids[-1]
        seen += ids
        if not page["has_more"]:
            break
        params = {"limit": 2, "after_id": page["last_id"]}
    assert seen == all_ids


def test_before_id_returns_the_page_just_before(http: httpx.Client, all_ids: list[str]) -> None:
    anchor = all_ids[4]
    page = get(http, "/v1/models", limit=2, before_id=anchor).json()
    assert [m["id"] for m in page["data"]] == all_ids[2:4]
    assert page["has_more"] is True
    first = get(http, "/v1/models", limit=3, before_id=all_ids[2]).json()
    assert [m["id"] for m in first["data"]] == all_ids[0:2]
    assert first["has_more"] is False


def test_last_page_has_more_false(http: httpx.Client, all_ids: list[str]) -> None:
    page = get(http, "/v1/models", limit=3, after_id=all_ids[-3]).json()
    assert [m["id"] for m in page["data"]] == all_ids[-2:]
    assert page["has_more"] is False


def test_page_after_the_last_id_is_empty(http: httpx.Client, all_ids: list[str]) -> None:
    page = get(http, "/v1/models", after_id=all_ids[-1]).json()
    assert page == {"data": [], "has_more": False, "first_id": None, "last_id": None}


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc"])
def test_invalid_limit_is_400(http: httpx.Client, limit: str) -> None:
    assert_error(get(http, "/v1/models", limit=limit), 400, "invalid_request_error", contains="limit")


def test_limit_bounds_are_inclusive(http: httpx.Client) -> None:
    assert len(get(http, "/v1/models", limit=1).json()["data"]) == 1
    assert get(http, "/v1/models", limit=1000).status_code == 200


def test_sdk_auto_pagination_yields_every_model(fake_server: LiveServer, all_ids: list[str]) -> None:
    client = fake_server.client()
    assert [m.id for m in client.models.list(limit=3)] == all_ids


def test_sdk_first_page_metadata(client: anthropic.Anthropic, all_ids: list[str]) -> None:
    page = client.models.list(limit=2)
    assert [m.id for m in page.data] == all_ids[:2]
    assert page.has_more is True
    assert page.first_id == all_ids[0]
    assert page.last_id == all_ids[1]


@pytest.mark.parametrize("model_id", REQUIRED_ALIASES)
def test_get_model_by_alias(client: anthropic.Anthropic, model_id: str) -> None:
    info = client.models.retrieve(model_id)
    assert info.type == "model"
    assert info.id == model_id
    assert info.display_name


def test_get_served_model(fake_server: LiveServer, http: httpx.Client) -> None:
    info = get(http, f"/v1/models/{fake_server.model_id}").json()
    assert info["id"] == fake_server.model_id
    assert info["max_input_tokens"] == fake_server.engine.facts.context_window
    assert isinstance(info["max_tokens"], int) and info["max_tokens"] > 0


def test_get_model_matches_its_list_entry(http: httpx.Client, all_ids: list[str]) -> None:
    listed = {m["id"]: m for m in get(http, "/v1/models", limit=1000).json()["data"]}
    for model_id in all_ids:
        assert get(http, f"/v1/models/{model_id}").json() == listed[model_id]


def test_get_unknown_model_is_404(http: httpx.Client) -> None:
    assert_error(get(http, "/v1/models/claude-nope-1"), 404, "not_found_error", contains="claude-nope-1")


def test_sdk_get_unknown_model_raises_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope-1")


def test_capabilities_say_no_images_but_pdfs_and_batches(http: httpx.Client) -> None:
    """A text-only model cannot see images; PDFs are turned into page text; batches run."""
    info = get(http, "/v1/models/claude-haiku-4-5").json()
    caps = info["capabilities"]
    assert caps["image_input"] == {"supported": False}
    assert caps["pdf_input"] == {"supported": True}
    assert caps["batch"] == {"supported": True}
