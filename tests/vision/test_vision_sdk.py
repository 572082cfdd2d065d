"""Image blocks reach a vision model (SmolLM2 + a random-weight projector) through the
official Python SDK over a real socket: status, usage and counts, prefix identity, errors.
The projector's output is meaningless, so nothing here looks at what the model says."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import pytest

from conftest import MODEL, LiveServer

from .projector import IMAGE_TOKENS, png


def image(data: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(data).decode()},
        **extra,
    }


def ask(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": "What is in the picture?"}]}]


def count(client: anthropic.Anthropic, messages: list[dict[str, Any]]) -> int:
    return client.messages.count_tokens(model=MODEL, messages=messages).input_tokens  # type: ignore[arg-type]


def test_models_list_says_the_model_sees(vision_server: LiveServer) -> None:
    info = vision_server.client().models.retrieve(vision_server.model_id)
    assert info.capabilities is not None
    assert info.capabilities.image_input.supported is True


def test_image_tokens_are_counted_and_billed_exactly(vision_server: LiveServer) -> None:
    client = vision_server.client()
    one = ask(image(png(40, 30, seed=1)))
    counted = count(client, one)
    text_only = count(client, [{"role": "user", "content": [{"type": "text", "text": "What is in the picture?"}]}])
    assert IMAGE_TOKENS <= counted - text_only <= IMAGE_TOKENS + 1  # the image, and its line break
    two = ask(image(png(40, 30, seed=1)), image(png(64, 64, seed=2)))
    assert count(client, two) - counted in (IMAGE_TOKENS, IMAGE_TOKENS + 1)
    for messages, expected in ((one, counted), (two, count(client, two))):
        reply = client.messages.create(model=MODEL, max_tokens=4, messages=messages)  # type: ignore[arg-type]
        assert reply.usage.input_tokens == expected
        assert reply.usage.output_tokens <= 4
        assert reply.stop_reason in ("end_turn", "max_tokens")


def test_streaming_with_an_image(vision_server: LiveServer) -> None:
    client = vision_server.client()
    messages = ask(image(png(20, 50, seed=3)))
    with client.messages.stream(model=MODEL, max_tokens=3, messages=messages) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.usage.input_tokens == count(client, messages)


def test_same_image_reuses_the_prefix_and_another_image_does_not(vision_server: LiveServer) -> None:
    """With ``cache_control`` on the image, the prompt cache keys on the image bytes."""
    client = vision_server.client()

    def create(seed: int) -> anthropic.types.Usage:
        messages = ask(image(png(48, 48, seed=seed), cache_control={"type": "ephemeral"}))
        return client.messages.create(model=MODEL, max_tokens=1, messages=messages).usage  # type: ignore[arg-type]

    first = create(10)
    assert (first.cache_creation_input_tokens or 0) > IMAGE_TOKENS
    assert not first.cache_read_input_tokens
    again = create(10)
    assert again.cache_read_input_tokens == first.cache_creation_input_tokens
    other = create(11)  # same size, same text, other pixels
    assert not other.cache_read_input_tokens
    assert other.cache_creation_input_tokens == first.cache_creation_input_tokens


def test_file_sourced_image(vision_server: LiveServer) -> None:
    client = vision_server.client()
    data = png(30, 30, seed=4)
    uploaded = client.beta.files.upload(file=("pic.png", data, "image/png"))
    by_file = [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "file", "file_id": uploaded.id}},
                {"type": "text", "text": "What is in the picture?"},
            ],
        }
    ]
    reply = client.beta.messages.create(
        model=MODEL,
        max_tokens=2,
        messages=by_file,
        betas=["files-api-2025-04-14"],  # type: ignore[arg-type]
    )
    assert reply.usage.input_tokens == count(client, ask(image(data)))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "Could not process image"),
        (image(png(8001, 1)), "image dimensions exceed max allowed size"),
        ({"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}, "Unable to download"),
    ],
)
def test_bad_images_get_the_error_envelope(vision_server: LiveServer, block: dict[str, Any], message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        vision_server.client().messages.create(model=MODEL, max_tokens=2, messages=ask(block))  # type: ignore[arg-type]
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert message in caught.value.body["error"]["message"]  # type: ignore[index]


def test_too_many_images(vision_server: LiveServer) -> None:
    blocks = [image(png(2, 2, seed=i)) for i in range(101)]
    with pytest.raises(anthropic.BadRequestError, match="Too many images"):
        vision_server.client().messages.count_tokens(model=MODEL, messages=ask(*blocks))  # type: ignore[arg-type]


def test_text_only_model_still_refuses_images(fake_server: LiveServer) -> None:
    with pytest.raises(anthropic.BadRequestError, match="does not support images"):
        fake_server.client().messages.create(model=MODEL, max_tokens=2, messages=ask(image(png(4, 4))))  # type: ignore[arg-type]
    info = fake_server.client().models.retrieve(fake_server.model_id)
    assert info.capabilities is not None and info.capabilities.image_input.supported is False


def test_concurrent_image_requests(vision_server: LiveServer) -> None:
    """Two sequences read images and decode side by side on the one worker thread."""
    client = vision_server.client()
    messages = [ask(image(png(24 + i, 24, seed=20 + i))) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda m: client.messages.create(model=MODEL, max_tokens=6, messages=m), messages))  # type: ignore[arg-type]
    for reply, sent in zip(replies, messages, strict=True):
        assert reply.usage.input_tokens == count(client, sent)


def test_prewarming_an_image_prefix(vision_server: LiveServer) -> None:
    """``max_tokens: 0`` with a breakpoint on the image writes the cache and returns."""
    client = vision_server.client()
    messages = ask(image(png(33, 33, seed=30), cache_control={"type": "ephemeral"}))
    warm = client.messages.create(model=MODEL, max_tokens=0, messages=messages)  # type: ignore[arg-type]
    assert (warm.usage.cache_creation_input_tokens or 0) > IMAGE_TOKENS
    hit = client.messages.create(model=MODEL, max_tokens=1, messages=messages)  # type: ignore[arg-type]
    assert hit.usage.cache_read_input_tokens == warm.usage.cache_creation_input_tokens


def openai_prompt_tokens(server: LiveServer, url: str, max_tokens: int) -> int:
    """``prompt_tokens`` of a chat completion asking about the image at ``url`` (a data URI
    or an http(s) URL)."""
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.api_key, max_retries=0)
    reply = client.chat.completions.create(
        model=MODEL,
        max_tokens=max_tokens,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": "What is in the picture?"},
                ],
            }
        ],
    )
    assert reply.usage is not None
    return reply.usage.prompt_tokens


def test_image_through_the_openai_chat_api(vision_server: LiveServer) -> None:
    """``image_url`` data URIs on ``/v1/chat/completions`` become the same image blocks."""
    data = png(28, 28, seed=40)
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    assert openai_prompt_tokens(vision_server, uri, 3) == count(vision_server.client(), ask(image(data)))
