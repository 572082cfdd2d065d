"""``validation.format_validation_error`` and the version checks, without a server.

Expected paths follow the real API's convention (spec §1.5): a dotted path where union
members appear by their discriminator (``tools.0.custom.name``,
``thinking.enabled.budget_tokens``, ``system.1.cache_control.ephemeral.scope``,
``messages.44.content.1.image.source.base64``) - note that a message's role is *not*
part of the path (``messages.44.content...``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from epistula.errors import InvalidRequestError
from epistula.generation.validation import check_version, check_version_rules, format_validation_error
from epistula.protocol.messages import MessageCountTokensParams, MessageCreateParams

BASE: dict[str, Any] = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def message_for(data: dict[str, Any], model: type[Any] = MessageCreateParams) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return format_validation_error(info.value)


def user_blocks(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {**BASE, "messages": [{"role": "user", "content": list(blocks)}]}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({k: v for k, v in BASE.items() if k != "model"}, "model: Field required"),
        ({k: v for k, v in BASE.items() if k != "max_tokens"}, "max_tokens: Field required"),
        ({**BASE, "foo": 1}, "foo: Extra inputs are not permitted"),
        ({**BASE, "metadata": {"user_id": "u", "x": 1}}, "metadata.x: Extra inputs are not permitted"),
        (
            {**BASE, "thinking": {"type": "enabled", "budget_tokens": 5}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {**BASE, "tools": [{"name": "bad name", "input_schema": {"type": "object"}}]},
            "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
        ),
        ({**BASE, "temperature": 2}, "temperature: Input should be less than or equal to 1"),
    ],
    ids=["model", "max_tokens", "extra-top", "metadata", "thinking", "tool-name", "temperature"],
)
def test_top_level_and_discriminated_paths(data: dict[str, Any], expected: str) -> None:
    assert message_for(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (user_blocks({"type": "text"}), "messages.0.content.0.text.text: Field required"),
        (
            user_blocks({"type": "text", "text": "a", "x": 1}),
            "messages.0.content.0.text.x: Extra inputs are not permitted",
        ),
        (
            user_blocks({"type": "image", "source": {"type": "base64", "media_type": "image/png"}}),
            "messages.0.content.0.image.source.base64.data: Field required",
        ),
        (
            {**BASE, "messages": [{"role": "user", "content": "hi", "name": "bob"}]},
            "messages.0.name: Extra inputs are not permitted",
        ),
    ],
    ids=["text-missing", "text-extra", "image-source", "message-extra"],
)
def test_message_paths_do_not_contain_the_role(data: dict[str, Any], expected: str) -> None:
    assert message_for(data) == expected


def test_cache_control_path_names_its_type() -> None:
    data = {**BASE, "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "foo": 1}}]}
    assert message_for(data) == "system.0.cache_control.ephemeral.foo: Extra inputs are not permitted"


def test_wrong_content_type_points_at_the_content() -> None:
    text = message_for({**BASE, "messages": [{"role": "user", "content": 5}]})
    path, _, reason = text.partition(": ")
    assert path == "messages.0.content"
    assert reason.startswith("Input should be a valid")


def test_union_member_markers_never_leak_into_paths() -> None:
    samples = [
        {**BASE, "messages": [{"role": "user", "content": 5}]},
        user_blocks({"type": "text", "text": 1}),
        {**BASE, "system": 5},
        {
            **BASE,
            "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": 5}]}],
        },
    ]
    for data in samples:
        path = message_for(data).partition(": ")[0]
        for marker in ("[", "str", "list", "function-", "tagged-union"):
            assert marker not in path, (path, data)


def test_count_tokens_rejects_max_tokens_as_an_extra_input() -> None:
    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    assert message_for(data, MessageCountTokensParams) == "max_tokens: Extra inputs are not permitted"


# ---------------------------------------------------------------- versions


@pytest.mark.parametrize("version", ["2023-06-01", "2026-10-21"])
def test_known_versions_pass(version: str) -> None:
    assert check_version(version) == version


def test_missing_version_message() -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_version(None)
    assert info.value.message == "anthropic-version: header is required"


@pytest.mark.parametrize("version", ["2024-01-01", "2023-06-01, 2023-06-01", "v1"])
def test_invalid_version_message(version: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_version(version)
    assert info.value.message == f'anthropic-version: "{version}" is not a valid version'


@pytest.mark.parametrize("field", ["temperature", "top_p", "top_k"])
def test_sampling_fields_are_rejected_only_under_2026(field: str) -> None:
    raw = {**BASE, field: 1}
    check_version_rules(raw, "2023-06-01")
    with pytest.raises(InvalidRequestError) as info:
        check_version_rules(raw, "2026-10-21")
    assert info.value.message == f"{field}: Extra inputs are not permitted"
