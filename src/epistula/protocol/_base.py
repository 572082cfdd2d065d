"""Base classes shared by every wire type."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body part: unknown fields are rejected, as the real API does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LenientModel(BaseModel):
    """A request part we only echo back or ignore: unknown fields are kept."""

    model_config = ConfigDict(extra="allow")


class TolerantModel(BaseModel):
    """A beta-gated request part whose newer keys are kept for the generation layer to
    log and ignore (the tolerant-reader rule in the README); known keys stay typed."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ResponseModel(BaseModel):
    """A response object built by the server."""

    model_config = ConfigDict(extra="forbid")


class ToolResultBlockBase(ResponseModel):
    """What every server tool's result block carries: the ``server_tool_use`` it answers
    (``type`` is declared here, and narrowed by each kind, so that it serializes first)."""

    type: str
    tool_use_id: str
