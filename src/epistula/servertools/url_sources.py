"""``url`` sources of ``image`` and PDF ``document`` blocks, fetched by the server.

The same guarded fetching as the ``web_fetch`` tool (:class:`.web_fetch.WebFetcher`: the
operator's host allow-list, public addresses only unless ``allowed_networks`` says more,
redirects checked hop by hop, one time limit for the whole fetch) with the operator's
``url_sources`` settings, which are off by default. The body is read up to the type's
limit (5 MB for an image, 32 MB for a PDF) and its type is sniffed from its first bytes:
the ``Content-Type`` a server sends is not trusted. Any failure is a 400
``invalid_request_error`` naming the block, as the real API answers a URL it cannot use.
"""

from __future__ import annotations

import base64

import httpcore

from epistula.config import UrlSourceSettings
from epistula.errors import InvalidRequestError
from epistula.files.pdf import MAX_PDF_BYTES
from epistula.files.service import MAX_IMAGE_FILE_BYTES
from epistula.generation.validation import sniff_image
from epistula.protocol.content import Base64ImageSource

from .web_fetch import PDF_MAGIC, FetchRefused, WebFetcher, read_body

_WHY = {
    "url_not_allowed": "the server does not fetch from this host",
    "url_too_long": "the URL is too long",
    "content_too_large": "the content is too large",
    "invalid_tool_input": "not a valid http(s) URL",
}


class UrlSourceFetcher:
    """Fetches image and PDF URLs for :func:`epistula.files.sources.resolve_file_documents`."""

    def __init__(self, settings: UrlSourceSettings) -> None:
        self.settings = settings
        self.max_per_request = settings.max_per_request
        self.max_request_bytes = settings.max_request_bytes
        self._fetcher = WebFetcher(settings)

    async def _get(self, url: str, limit: int, where: str) -> bytes:
        if not self.settings.enabled:
            raise InvalidRequestError(f"{where}: fetching URL sources is not enabled on this server")

        async def read(final_url: str, response: httpcore.Response) -> bytes:
            return await read_body(response, min(limit, self.settings.max_bytes))

        try:
            return await self._fetcher.get(url, read)
        except FetchRefused as refused:
            why = _WHY.get(refused.code) or str(refused).removeprefix(f"{refused.code}: ")
            raise InvalidRequestError(
                f"{where}: Unable to download the file from {url!r} ({why}). Please verify the URL and try again."
            ) from None

    async def image(self, url: str, where: str) -> Base64ImageSource:
        data = await self._get(url, MAX_IMAGE_FILE_BYTES, where)
        media_type = sniff_image(data)
        if media_type is None:
            raise InvalidRequestError(
                f"{where}: the URL did not return a supported image (image/jpeg, image/png, image/gif or image/webp)"
            )
        return Base64ImageSource(type="base64", media_type=media_type, data=base64.b64encode(data).decode("ascii"))

    async def pdf(self, url: str, where: str) -> bytes:
        data = await self._get(url, MAX_PDF_BYTES, where)
        if not data.startswith(PDF_MAGIC):
            raise InvalidRequestError(f"{where}: the URL did not return a PDF")
        return data
