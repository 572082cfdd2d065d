"""The OpenAPI 3.1 document, generated from the declared operations (:mod:`.operations`).

Request and response schemas come from the pydantic wire types (``models_json_schema``),
the status-to-``error.type`` table from the exception hierarchy, and the operations from
the declarations the routes are built from, so the description cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from epistula import __version__
from epistula.errors import ApiError
from epistula.generation.validation import API_VERSIONS
from epistula.protocol.errors import ErrorResponse

from .operations import Content, Operation

REF = "#/components/schemas/{model}"


def _error_classes(cls: type[ApiError] = ApiError) -> Iterator[type[ApiError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _error_classes(sub)


def error_types() -> dict[int, str]:
    """``status -> error.type`` as :mod:`epistula.errors` defines it (one type per status)."""
    table: dict[int, str] = {}
    for cls in _error_classes():
        table.setdefault(cls.status, cls.error_type)
    return dict(sorted(table.items()))


def _models(operations: tuple[Operation, ...]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorResponse, "serialization"): None}
    for op in operations:
        for content in op.body:
            if content.model is not None:
                seen[(content.model, "validation")] = None
        for content in op.ok:
            if content.model is not None:
                seen[(content.model, "serialization")] = None
        if op.error_model is not None:
            seen[(op.error_model, "serialization")] = None
    return list(seen)


@dataclass(slots=True)
class _Builder:
    refs: dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]
    types: dict[int, str]

    def schema(self, content: Content, mode: JsonSchemaMode) -> dict[str, Any]:
        if content.model is not None:
            return self.refs[(content.model, mode)]
        return dict(content.schema or {})

    def media(self, contents: tuple[Content, ...], mode: JsonSchemaMode) -> dict[str, Any]:
        return {c.media_type: {"schema": self.schema(c, mode)} for c in contents}

    def parameters(self, op: Operation) -> list[dict[str, Any]]:
        params: list[dict[str, Any]] = []
        if op.auth != "none" and op.error_model is None:
            params.append({"$ref": "#/components/parameters/AnthropicVersion"})
            params.append({"$ref": "#/components/parameters/AnthropicBeta"})
        for p in op.params:
            spec: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required, "schema": p.schema}
            spec["description"] = p.description
            if p.schema.get("type") == "array":
                spec.update(style="form", explode=True)
            if p.empty_ok:
                spec["allowEmptyValue"] = True
            params.append(spec)
        return params

    def responses(self, op: Operation) -> dict[str, Any]:
        responses: dict[str, Any] = {
            "200": {
                "description": "OK",
                "headers": {"request-id": {"$ref": "#/components/headers/RequestId"}},
                "content": self.media(op.ok, "serialization"),
            }
        }
        for status in op.errors:
            if op.error_model is None:
                responses[str(status)] = {"$ref": f"#/components/responses/{self.types[status]}_{status}"}
            else:
                responses[str(status)] = {
                    "description": f"`{self.types[status]}`",
                    "content": self.media((Content(model=op.error_model),), "serialization"),
                }
        return responses

    def operation(self, op: Operation) -> dict[str, Any]:
        out: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": self.parameters(op),
            "responses": self.responses(op),
        }
        if op.description:
            out["description"] = op.description
        if op.body:
            out["requestBody"] = {"required": True, "content": self.media(op.body, "validation")}
        if op.auth == "none":
            out["security"] = []
        elif op.auth == "admin":
            out["security"] = [{"AdminKey": []}, {"AdminBearer": []}]
        return out


def _error_response(status: int, error_type: str) -> dict[str, Any]:
    """The envelope, with ``error.type`` pinned to the one this status carries."""
    return {
        "description": f"`{error_type}`",
        "headers": {"request-id": {"$ref": "#/components/headers/RequestId"}},
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        {"$ref": REF.format(model="ErrorResponse")},
                        {
                            "type": "object",
                            "required": ["type", "error", "request_id"],
                            "properties": {
                                "error": {
                                    "type": "object",
                                    "required": ["type", "message"],
                                    "properties": {"type": {"const": error_type}},
                                },
                                "request_id": {"type": "string", "pattern": "^req_"},
                            },
                        },
                    ]
                }
            }
        },
    }


def _fixed_components() -> dict[str, Any]:
    """Security schemes, version header parameters and the ``request-id`` header."""
    return {
        "securitySchemes": {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
            "AdminKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "An Admin API key."},
            "AdminBearer": {"type": "http", "scheme": "bearer", "description": "An Admin API key."},
        },
        "parameters": {
            "AnthropicVersion": {
                "name": "anthropic-version",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "enum": list(API_VERSIONS)},
            },
            "AnthropicBeta": {
                "name": "anthropic-beta",
                "in": "header",
                "required": False,
                "description": "Comma-separated beta flags; accepted and ignored.",
                "schema": {"type": "string"},
            },
        },
        "headers": {
            "RequestId": {"required": True, "schema": {"type": "string", "pattern": "^req_"}},
        },
    }


def build_openapi(declared: Iterable[Operation]) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (a fresh dict: callers may change it)."""
    operations = tuple(declared)
    keys = _models(operations)
    refs, defs = models_json_schema(keys, ref_template=REF)
    types = error_types()
    builder = _Builder(
        refs={(model, mode): ref for (model, mode), ref in refs.items() if issubclass(model, BaseModel)}, types=types
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item = paths.setdefault(op.path, {})
        if op.method in item:
            raise ValueError(f"{op.method.upper()} {op.path} is declared twice")
        item[op.method] = builder.operation(op)
    used = sorted({s for op in operations for s in op.errors})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "epistula",
            "version": __version__,
            "description": "A self-hosted implementation of the Anthropic Claude API. Every non-2xx response "
            "is the Anthropic error envelope; the status fixes `error.type`.",
        },
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in operations)],
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            **_fixed_components(),
            "responses": {f"{types[s]}_{s}": _error_response(s, types[s]) for s in used},
        },
    }
