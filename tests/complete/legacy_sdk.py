"""Runs calls through the official ``anthropic`` 0.x SDK (the last with ``client.completions``)
in a separate interpreter, because the test process already imports ``anthropic`` 2.x.

Usage: ``python legacy_sdk.py`` with a JSON job on stdin:
``{"base_url", "api_key", "calls": [{"method": "create"|"stream", "kwargs": {...}}]}``.
Prints one JSON list: per call ``{"result": ...}`` (a ``Completion`` dump, or for streams the
list of streamed ``Completion`` dumps) or ``{"error": {"class", "status", "body", "partial"}}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anthropic


def run(client: anthropic.Anthropic, call: dict[str, Any]) -> dict[str, Any]:
    partial: list[dict[str, Any]] = []
    try:
        if call["method"] == "stream":
            for event in client.completions.create(**call["kwargs"], stream=True):
                partial.append(event.model_dump())
            return {"result": partial}
        return {"result": client.completions.create(**call["kwargs"]).model_dump()}
    except anthropic.APIError as exc:
        return {
            "error": {
                "class": type(exc).__name__,
                "status": getattr(exc, "status_code", None),
                "body": exc.body,
                "partial": partial,
            }
        }


def main() -> None:
    job = json.load(sys.stdin)
    assert anthropic.__version__.startswith("0."), anthropic.__version__
    client = anthropic.Anthropic(base_url=job["base_url"], api_key=job["api_key"], max_retries=0, timeout=120)
    json.dump([run(client, call) for call in job["calls"]], sys.stdout)


if __name__ == "__main__":
    main()
