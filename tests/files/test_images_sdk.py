"""``image`` blocks through the official SDK: base64, URL and file sources are checked as
the real API checks them, and then refused with a clear 400 because no served model can
see (the catalog says ``image_input: false``)."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import pytest

from batches.support import Live

MODEL = "claude-haiku-4-5"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def send(client: anthropic.Anthropic, image: dict[str, Any], *, in_tool_result: bool = False) -> None:
    block: dict[str, Any] = {"type": "image", "source": image}
    if not in_tool_result:
        messages: list[Any] = [{"role": "user", "content": [block, {"type": "text", "text": "What is this?"}]}]
    else:
        messages = [
            {"role": "user", "content": "take a screenshot"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01a", "name": "shot", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01a", "content": [block]}]},
        ]
    client.messages.create(model=MODEL, max_tokens=20, messages=messages)


def b64(data: bytes, media_type: str) -> dict[str, Any]:
    return {"type": "base64", "media_type": media_type, "data": base64.b64encode(data).decode()}


def error_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    assert isinstance(body, dict), body
    return str(body["error"]["message"])


def refused_for_blindness(info: pytest.ExceptionInfo[anthropic.BadRequestError], where: str) -> None:
    assert info.value.status_code == 400
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    assert error_message(info.value).startswith(f"{where}: model `{MODEL}` does not support images")


def test_valid_images_are_refused_because_the_model_cannot_see(client: anthropic.Anthropic) -> None:
    for source in (b64(PNG, "image/png"), b64(GIF, "image/gif"), {"type": "url", "url": "https://example.com/a.png"}):
        with pytest.raises(anthropic.BadRequestError) as info:
            send(client, source)
        refused_for_blindness(info, "messages.0.content.0.image")
    with pytest.raises(anthropic.BadRequestError) as info:
        send(client, b64(PNG, "image/png"), in_tool_result=True)
    refused_for_blindness(info, "messages.2.content.0.content.0.image")


def test_image_file_sources(client: anthropic.Anthropic) -> None:
    image = client.beta.files.upload(file=("dot.png", PNG, "image/png"))
    with pytest.raises(anthropic.BadRequestError) as info:
        send(client, {"type": "file", "file_id": image.id})
    refused_for_blindness(info, "messages.0.content.0.image")

    with pytest.raises(anthropic.NotFoundError) as missing:
        send(client, {"type": "file", "file_id": "file_01nothere"})
    assert error_message(missing.value).startswith("messages.0.content.0.image.source.file_id: File not found")

    text = client.beta.files.upload(file=("notes.txt", b"not a picture", "text/plain"))
    with pytest.raises(anthropic.BadRequestError) as wrong:
        send(client, {"type": "file", "file_id": text.id})
    assert "text/plain" in error_message(wrong.value) and "cannot be used as an image" in error_message(wrong.value)


def test_image_file_of_another_workspace_is_404(files_server: Live, client: anthropic.Anthropic) -> None:
    image = client.files.upload(file=("mine.png", PNG, "image/png"))
    files_server.add_key("sk-img-other", "wrkspc_img_other")
    with pytest.raises(anthropic.NotFoundError):
        send(files_server.client(api_key="sk-img-other"), {"type": "file", "file_id": image.id})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"type": "base64", "media_type": "image/png", "data": "%%% not base64 %%%"},
            "messages.0.content.0.image.source.base64.data: invalid base64 data",
        ),
        (
            b64(PNG, "image/jpeg"),
            "messages.0.content.0.image.source.base64.data: The image was specified using the image/jpeg media "
            "type, but the image appears to be a image/png image",
        ),
        (b64(b"plain bytes", "image/png"), "messages.0.content.0.image.source.base64.data: Could not process image"),
        (
            {"type": "url", "url": "ftp://example.com/a.png"},
            "messages.0.content.0.image.source.url: only http and https image URLs are supported",
        ),
    ],
    ids=["bad-base64", "wrong-media-type", "not-an-image", "ftp-url"],
)
def test_bad_image_sources_are_400_before_the_capability_check(
    client: anthropic.Anthropic, source: dict[str, Any], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        send(client, source)
    assert error_message(info.value) == message


def test_unknown_media_type_is_400(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        send(client, {"type": "base64", "media_type": "image/bmp", "data": "AAAA"})
    assert "image.source.base64.media_type" in error_message(info.value)


def test_image_over_5_mb_is_400(client: anthropic.Anthropic) -> None:
    data = "A" * (5 * 1024 * 1024 + 4)
    with pytest.raises(anthropic.BadRequestError) as info:
        send(client, {"type": "base64", "media_type": "image/png", "data": data})
    assert error_message(info.value) == (
        f"messages.0.content.0.image.source.base64: image exceeds 5 MB maximum: {len(data)} bytes > 5242880 bytes"
    )


def test_image_inside_a_custom_content_document_is_refused(client: anthropic.Anthropic) -> None:
    document = {
        "type": "document",
        "source": {
            "type": "content",
            "content": [{"type": "text", "text": "a"}, {"type": "image", "source": b64(PNG, "image/png")}],
        },
    }
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": [document]}])
    refused_for_blindness(info, "messages.0.content.0.document.source.content.1.image")
