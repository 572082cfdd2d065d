"""Models API types and the shared list page."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from ._base import ResponseModel

T = TypeVar("T")


class ModelInfo(ResponseModel):
    type: Literal["model"] = "model"
    id: str
    display_name: str
    created_at: str
    lifecycle: Literal["active", "deprecated", "retired"] = "active"
    deprecated_at: str | None = None
    retires_at: str | None = None
    line: str | None = None
    max_input_tokens: int | None = None
    max_tokens: int | None = None
    capabilities: dict[str, Any] | None = None


class Page(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool
    first_id: str | None
    last_id: str | None
