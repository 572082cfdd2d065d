"""Images in a rendered prompt: markers in the text, image tokens in the ids.

Rendering puts a marker where each image block is (:func:`image_marker`). The marker
holds a secret drawn once per process, so no text a client, a tool or a document sends
can pose as one, and a digest of the image's data, so the same image renders the same
marker in every request (prompts stay strict extensions across turns).

:class:`ImagePrompt` is the tokenizer that understands markers: text between them is
tokenized as usual and each marker becomes the image's prompt parts (the projector's
wrapper text ids and :func:`~epistula.engines.base.image_ids` stand-ins for its embedding
runs). Every count of the prompt (``count_tokens``, ``usage``, cache breakpoints,
context-window edits) goes through it, so image tokens are counted exactly.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from epistula.engines.base import ImageEmbedding, PromptImage, PromptPart, TextIds, Vision, image_ids
from epistula.files.service import ExtractedTextSource
from epistula.protocol.content import (
    Base64ImageSource,
    ContentBlockSource,
    DocumentBlockParam,
    ImageBlockParam,
    ToolResultBlockParam,
)
from epistula.protocol.messages import PromptParams

_SECRET = secrets.token_hex(8)
_MARKER = re.compile(rf"<image {_SECRET} ([0-9a-f]{{32}})>")


def _key(source: Base64ImageSource) -> str:
    return hashlib.sha256(source.data.encode()).hexdigest()[:32]


def image_marker(block: ImageBlockParam) -> str:
    """The marker rendered for ``block`` (only base64 sources reach rendering: ``file``
    sources are resolved to base64 before, URL sources are refused)."""
    source = block.source
    if not isinstance(source, Base64ImageSource):
        return ""
    return f"<image {_SECRET} {_key(source)}>"


def image_blocks(params: PromptParams, *, pages: bool = True) -> Iterator[tuple[str, ImageBlockParam]]:
    """Every image block with its path: in messages, in tool results, in custom-content
    documents, and (``pages``) the page images of PDFs read for a model that sees."""
    for i, message in enumerate(params.messages):
        if isinstance(message.content, str):
            continue
        for j, block in enumerate(message.content):
            where = f"messages.{i}.content.{j}"
            inner: list[tuple[str, Any]] = [(where, block)]
            if isinstance(block, ToolResultBlockParam) and isinstance(block.content, list):
                inner = [(f"{where}.content.{k}", item) for k, item in enumerate(block.content)]
            for path, item in inner:
                if isinstance(item, ImageBlockParam):
                    yield f"{path}.image", item
                elif isinstance(item, DocumentBlockParam) and isinstance(item.source, ContentBlockSource):
                    content = item.source.content
                    for k, part in enumerate(content if isinstance(content, list) else []):
                        if isinstance(part, ImageBlockParam):
                            yield f"{path}.document.source.content.{k}.image", part
                elif pages and isinstance(item, DocumentBlockParam) and isinstance(item.source, ExtractedTextSource):
                    for k, page in enumerate(item.source.page_images or ()):
                        yield f"{path}.document.source.page.{k + 1}.image", page


@dataclass(frozen=True, slots=True)
class _Image:
    data: bytes
    digest: bytes
    parts: tuple[PromptPart, ...]


@dataclass
class ImagePrompt:
    """A tokenizer for rendered text with image markers (see the module docstring)."""

    tokenize: Callable[..., Sequence[int]]
    vision: Vision
    _images: dict[str, _Image] = field(default_factory=dict)
    _runs: dict[int, PromptImage] = field(default_factory=dict)
    """First stand-in id of each embedding run -> the run (its ``start`` left at 0)."""

    @classmethod
    def of(cls, params: PromptParams, tokenize: Callable[..., Sequence[int]], vision: Vision) -> ImagePrompt:
        """The request's images, each read once by the projector (the heavy, CPU-bound step)."""
        prompt = cls(tokenize=tokenize, vision=vision)
        for _, block in image_blocks(params):
            source = block.source
            if isinstance(source, Base64ImageSource) and (key := _key(source)) not in prompt._images:
                data = base64.b64decode(source.data)
                digest = hashlib.sha256(data).digest()
                image = _Image(data=data, digest=digest, parts=vision.layout(data))
                prompt._images[key] = image
                for part in image.parts:
                    if isinstance(part, ImageEmbedding):
                        ids = image_ids(digest, part.chunk, part.n_tokens)
                        run = PromptImage(data=data, digest=digest, chunk=part.chunk, start=0, length=part.n_tokens)
                        prompt._runs[ids[0]] = run
        return prompt

    def __call__(self, text: str, *, special: bool = True) -> list[int]:
        ids: list[int] = []
        pos = 0
        for match in _MARKER.finditer(text):
            image = self._images.get(match.group(1))
            if image is None:
                continue
            if match.start() > pos:
                ids.extend(self.tokenize(text[pos : match.start()], special=special))
            for part in image.parts:
                if isinstance(part, TextIds):
                    ids.extend(part.ids)
                else:
                    ids.extend(image_ids(image.digest, part.chunk, part.n_tokens))
            pos = match.end()
        if pos < len(text):
            ids.extend(self.tokenize(text[pos:], special=special))
        return ids

    def runs(self, ids: Sequence[int]) -> tuple[PromptImage, ...]:
        """The embedding runs in ``ids`` (a prompt this tokenizer made), in order."""
        found: list[PromptImage] = []
        i = 0
        while i < len(ids):
            run = self._runs.get(ids[i]) if ids[i] < 0 else None
            if run is None:
                i += 1
                continue
            found.append(PromptImage(data=run.data, digest=run.digest, chunk=run.chunk, start=i, length=run.length))
            i += run.length
        return tuple(found)
