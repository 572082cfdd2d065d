"""Thinking-block signatures: a real MAC by this server over the thinking text.

A ``thinking`` block that comes back in a later request must carry the signature
this server issued for exactly that text; anything else is a tampered block and
gets the real API's 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from epistula.config import data_dir_key
from epistula.errors import InvalidRequestError
from epistula.protocol.content import ThinkingBlockParam
from epistula.protocol.messages import (
    AssistantMessageParam,
    PromptParams,
)

_VERSION = b"\x01"


class ThinkingSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> ThinkingSigner:
        """The key lives in the data directory so signatures survive restarts."""
        return cls(data_dir_key(data_dir, "thinking.key"))

    def sign(self, thinking: str) -> str:
        mac = hmac.new(self._key, thinking.encode(), hashlib.sha256).digest()
        return base64.b64encode(_VERSION + mac).decode()

    def verify(self, thinking: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(thinking), signature)

    def check_request(self, params: PromptParams) -> None:
        for i, message in enumerate(params.messages):
            if not isinstance(message, AssistantMessageParam) or isinstance(message.content, str):
                continue
            for j, block in enumerate(message.content):
                if isinstance(block, ThinkingBlockParam) and not self.verify(block.thinking, block.signature):
                    raise InvalidRequestError(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
