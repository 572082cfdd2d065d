"""README's one rule for fields epistula cannot honour: a 400 naming the field, or a row in
the table "Accepted and ignored fields" with the reason. Every field in that table is
accepted and leaves the reply exactly as without it; ``container`` asks for code execution
and Agent Skills, which epistula does not have, and is refused by name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import API_KEY, V2023, assert_error, body

README = Path(__file__).resolve().parents[2] / "README.md"
HEADERS = {"x-api-key": API_KEY, "anthropic-version": V2023}

# A value the real API accepts for each row of README's table (spec §2: request parameters).
SAMPLES: dict[str, list[Any]] = {
    "speed": ["standard", "fast", None],
    "diagnostics": [{"previous_message_id": "msg_01XFDUDYJgAACzvnptvVoYEL"}, {"previous_message_id": None}, {}],
    "service_tier": ["auto", "standard_only"],
    "inference_geo": ["us", "global"],
}


def readme_table() -> list[str]:
    """The field names of README's "Accepted and ignored fields" table, in order."""
    section = README.read_text(encoding="utf-8").split("### Accepted and ignored fields", 1)[1]
    section = section.split("\n#", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)


def test_the_table_lists_exactly_the_tested_fields() -> None:
    assert readme_table() == list(SAMPLES)


CASES = [(field, value) for field, values in SAMPLES.items() for value in values]


@pytest.mark.parametrize(("field", "value"), CASES, ids=[f"{f}={v!r}" for f, v in CASES])
def test_an_ignored_field_leaves_the_reply_unchanged(http: httpx.Client, field: str, value: Any) -> None:
    plain = http.post("/v1/messages", json=body("#say:same reply"), headers=HEADERS)
    tolerated = http.post("/v1/messages", json=body("#say:same reply", **{field: value}), headers=HEADERS)
    assert tolerated.status_code == 200, tolerated.text
    reply, expected = tolerated.json(), plain.json()
    assert reply.keys() == expected.keys() and "diagnostics" not in reply
    assert reply["content"] == expected["content"]
    assert {k: v for k, v in reply.items() if k != "id"} == {k: v for k, v in expected.items() if k != "id"}
    assert reply["usage"]["speed"] is None and reply["usage"]["service_tier"] == "standard"
    assert reply["usage"]["inference_geo"] is None


@pytest.mark.parametrize("field", ["speed"])
def test_count_tokens_accepts_the_ignored_prompt_fields(http: httpx.Client, field: str) -> None:
    payload = {k: v for k, v in body("#say:x").items() if k != "max_tokens"}
    plain = http.post("/v1/messages/count_tokens", json=payload, headers=HEADERS)
    tolerated = http.post("/v1/messages/count_tokens", json={**payload, field: SAMPLES[field][0]}, headers=HEADERS)
    assert tolerated.status_code == 200, tolerated.text
    assert tolerated.json() == plain.json()


@pytest.mark.parametrize(
    "container",
    ["container_011CYVPF4iP8oD6Vsz1NhVih", {"id": None, "skills": [{"skill_id": "pptx", "type": "anthropic"}]}, {}],
    ids=["id", "skills", "empty"],
)
def test_a_container_is_refused_by_name(http: httpx.Client, container: Any) -> None:
    resp = http.post("/v1/messages", json=body("#say:x", container=container), headers=HEADERS)
    assert_error(resp, 400, "invalid_request_error", contains="container:")


def test_a_null_container_is_the_default(http: httpx.Client) -> None:
    resp = http.post("/v1/messages", json=body("#say:ok", container=None), headers=HEADERS)
    assert resp.status_code == 200, resp.text
