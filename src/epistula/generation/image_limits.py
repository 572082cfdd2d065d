"""Image budgets checked from the file header, before anything decodes the pixels.

The real API takes at most 100 images per request and images of at most 8000 pixels on
a side; the size of the encoded data is checked by :mod:`.validation` (5 MB of base64).
The width and height come from the header of each format (PNG ``IHDR``, GIF logical
screen, JPEG start-of-frame, WebP ``VP8``/``VP8L``/``VP8X``), so an oversize or
malformed image is refused with a 400 at the cost of reading a few bytes.
"""

from __future__ import annotations

import struct

from epistula.errors import InvalidRequestError

MAX_IMAGES_PER_REQUEST = 100
MAX_IMAGE_SIDE = 8000

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    return None


def image_size(data: bytes, media_type: str) -> tuple[int, int] | None:
    """(width, height) from the header of a ``media_type`` image; None when unreadable."""
    if media_type == "image/png" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if media_type == "image/gif" and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if media_type == "image/jpeg":
        return _jpeg_size(data)
    if media_type == "image/webp":
        return _webp_size(data)
    return None


def check_dimensions(data: bytes, media_type: str, where: str) -> None:
    size = image_size(data, media_type)
    if size is None or 0 in size:
        raise InvalidRequestError(f"{where}: Could not process image")
    width, height = size
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise InvalidRequestError(
            f"{where}: image dimensions exceed max allowed size: {MAX_IMAGE_SIDE} pixels (got {width}x{height})"
        )


def check_count(count: int) -> None:
    if count > MAX_IMAGES_PER_REQUEST:
        raise InvalidRequestError(f"messages: Too many images: {count} > {MAX_IMAGES_PER_REQUEST} maximum per request")
