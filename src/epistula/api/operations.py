"""Operations declared on their handlers: the one place a route and its description live.

Each API module makes an :class:`Api` and declares every handler with
``@API.get(path, id)`` (``post``, ``delete``; :meth:`Api.operation` in general): the
method and path it is routed at, its operation id, and what the OpenAPI description says
about it (request and response bodies, query parameters, extra error statuses, the key it
needs). The summary is the first line of the handler's docstring, and the response body
the wire model it returns (sent as JSON), unless the declaration says otherwise. The
module's routes are built from those declarations (:meth:`Api.routes`), and so is the
OpenAPI document (:mod:`epistula.api.openapi`), so neither can exist without the other.

What every operation of a kind can answer is derived, not restated: an authenticated
operation can answer 400 (a bad ``anthropic-version`` or body), 401, 403 and 500; one
with a request body 413; one with an id in its path 404. Path parameters are read from
the path itself and described from :data:`PATH_PARAMS`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, TypeVar, Unpack, get_type_hints

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from epistula.config import Settings

Method = Literal["get", "post", "delete"]
Auth = Literal["key", "admin", "none"]
"""An API key (``x-api-key`` or bearer), an Admin API key, or none at all."""
Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request], Awaitable[Response | BaseModel]]
"""A declared handler: it answers a response, or the wire model to send as JSON."""
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Content:
    """One media type of a request or response body: a wire model, or a raw schema
    for what has no model (multipart uploads, JSONL, file bytes, SSE)."""

    media_type: str = "application/json"
    model: type[BaseModel] | None = None
    schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str
    where: Literal["query", "path", "header"] = "query"
    required: bool = False
    empty_ok: bool = False
    """An empty value (``?before_id=``) counts as absent (OpenAPI ``allowEmptyValue``)."""


Body = type[BaseModel] | Content | tuple[Content, ...]
"""A body as declared: a wire model (JSON), one content, or several media types."""


def _contents(body: Body | None) -> tuple[Content, ...]:
    if body is None:
        return ()
    if isinstance(body, Content):
        return (body,)
    if isinstance(body, tuple):
        return body
    return (Content(model=body),)


# ---------------------------------------------------------------- shared vocabulary

AUTHED_ERRORS = (400, 401, 403, 500)
"""Every authenticated operation: a bad ``anthropic-version`` (400), a bad key (401), a key
without access (403), and the catch-all ``api_error`` the real API documents."""
GENERATION_ERRORS = (404, 429, 529)
"""What a generation adds: an unknown model, a rate limit, an overloaded engine."""

SSE = Content("text/event-stream", schema={"type": "string", "description": "Server-sent events (``stream: true``)."})
JSONL = Content("application/x-jsonl", schema={"type": "string", "description": "One result object per line."})
BYTES = Content("application/octet-stream", schema={"type": "string", "format": "binary"})
OBJECT = Content(schema={"type": "object"})

LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}, "Page size.")
BEFORE_ID = Param("before_id", {"type": "string"}, "Return the page just before this object id.", empty_ok=True)
AFTER_ID = Param("after_id", {"type": "string"}, "Return the page just after this object id.", empty_ok=True)
PAGING = (LIMIT, BEFORE_ID, AFTER_ID)
IDS_NOTE = "At most 100 distinct ids (repeats count once)."

PATH_PARAMS = {
    "model_id": "A model id or alias.",
    "batch_id": "A batch id (``msgbatch_...``).",
    "file_id": "A file id (``file_...``).",
    "api_key_id": "An API key id (``apikey_...``).",
    "workspace_id": "A workspace id (``wrkspc_...``).",
    "user_id": "A user id (``user_...``).",
    "skill_id": "A skill id (``skill_...``).",
    "version": "A skill version: its id (``skillver_...``), its timestamp, or ``latest``.",
}
"""The description of each id a path may carry (a path with another id is refused)."""


def array_param(name: str, description: str, values: tuple[str, ...] | None = None) -> Param:
    """``name[]=a&name[]=b``: an array query parameter (of these values only, if given)."""
    items: dict[str, Any] = {"type": "string"} if values is None else {"type": "string", "enum": list(values)}
    return Param(f"{name}[]", {"type": "array", "items": items}, description)


# ---------------------------------------------------------------- declarations

_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path, as routed and as described."""

    method: Method
    route_path: str
    """The Starlette path, convertors included (``/v1/models/{model_id:path}``)."""
    operation_id: str
    summary: str
    tag: str
    ok: tuple[Content, ...]
    body: tuple[Content, ...] = ()
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    auth: Auth = "key"
    error_model: type[BaseModel] | None = None
    """Errors in another API's shape (the OpenAI endpoint), instead of the Anthropic envelope;
    such an operation takes no ``anthropic-version`` header either."""
    description: str = ""

    @property
    def path(self) -> str:
        """The OpenAPI path (``/v1/models/{model_id}``)."""
        return _PATH_PARAM.sub(r"{\1}", self.route_path)


@dataclass(frozen=True, slots=True)
class Declared:
    operation: Operation
    endpoint: Endpoint


def _path_params(route_path: str) -> tuple[Param, ...]:
    params = []
    for name in _PATH_PARAM.findall(route_path):
        if name not in PATH_PARAMS:
            raise ValueError(f"{route_path}: describe the path parameter {name!r} in PATH_PARAMS")
        params.append(Param(name, {"type": "string"}, PATH_PARAMS[name], where="path", required=True))
    return tuple(params)


def _errors(
    auth: Auth, body: tuple[Content, ...], path_params: tuple[Param, ...], extra: tuple[int, ...]
) -> tuple[int, ...]:
    derived: set[int] = set(extra)
    if auth != "none":
        derived.update(AUTHED_ERRORS)
    if body:
        derived.add(413)
    if path_params:
        derived.add(404)
    return tuple(sorted(derived))


class Described(TypedDict, total=False):
    """How an operation is described beyond what the convenience methods fix."""

    summary: str
    auth: Auth | None
    error_model: type[BaseModel] | None
    description: str


class Options(Described, total=False):
    """What a declaration may say besides its method, path and id (see :meth:`Api.operation`)."""

    response: Body
    request: Body | None
    stream: bool
    params: tuple[Param, ...]
    errors: tuple[int, ...]


def _summary(endpoint: Handler) -> str:
    doc = inspect.getdoc(endpoint)
    if not doc:
        raise ValueError(f"{endpoint.__name__}: give a summary or a docstring")
    return doc.splitlines()[0]


def _returned(endpoint: Handler) -> Body:
    returned = get_type_hints(endpoint).get("return")
    if not (isinstance(returned, type) and issubclass(returned, BaseModel)):
        raise ValueError(f"{endpoint.__name__}: give a response or return a wire model")
    return returned


def _responding(endpoint: Handler) -> Endpoint:
    """The route's endpoint: a wire model the handler returns becomes its JSON response."""

    @functools.wraps(endpoint)
    async def respond(request: Request) -> Response:
        result = await endpoint(request)
        return JSONResponse(result.model_dump(mode="json")) if isinstance(result, BaseModel) else result

    return respond


@dataclass(slots=True)
class Api:
    """One API module's operations, each declared on its handler, and the routes they make."""

    tag: str
    auth: Auth = "key"
    """The default for the module's operations."""
    enabled: Callable[[Settings], bool] | None = None
    """Whether the module's routes are mounted (described either way); None: always."""
    declared: list[Declared] = field(default_factory=list)

    def operation(self, method: Method, path: str, id: str, **options: Unpack[Options]) -> Callable[[H], H]:
        """Declare the decorated handler as ``method path``, operation ``id``. ``summary``: by
        default the first line of the handler's docstring; ``response``/``request``: the bodies
        (the response by default the wire model the handler returns, sent as JSON); ``stream``:
        also answers SSE; ``params``: query parameters (path ones are read from ``path``);
        ``errors``: statuses beyond those every operation of its kind answers; ``auth``: by
        default the module's."""
        level = options.get("auth") or self.auth
        body = _contents(options.get("request"))
        path_params = _path_params(path)

        def declare(endpoint: H) -> H:
            summary, response = options.get("summary"), options.get("response")
            operation = Operation(
                method=method,
                route_path=path,
                operation_id=id,
                summary=_summary(endpoint) if summary is None else summary,
                tag=self.tag,
                ok=_contents(_returned(endpoint) if response is None else response)
                + ((SSE,) if options.get("stream") else ()),
                body=body,
                params=path_params + options.get("params", ()),
                errors=_errors(level, body, path_params, options.get("errors", ())),
                auth=level,
                error_model=options.get("error_model"),
                description=options.get("description", ""),
            )
            if any((d.operation.method, d.operation.path) == (method, operation.path) for d in self.declared):
                raise ValueError(f"{method.upper()} {path} is declared twice")
            self.declared.append(Declared(operation, _responding(endpoint)))
            return endpoint

        return declare

    def get(self, path: str, id: str, **options: Unpack[Options]) -> Callable[[H], H]:
        return self.operation("get", path, id, **options)

    def post(self, path: str, id: str, **options: Unpack[Options]) -> Callable[[H], H]:
        return self.operation("post", path, id, **options)

    def delete(self, path: str, id: str, **options: Unpack[Options]) -> Callable[[H], H]:
        return self.operation("delete", path, id, **options)

    def generation(
        self, path: str, id: str, request: type[BaseModel], response: type[BaseModel], **options: Unpack[Described]
    ) -> Callable[[H], H]:
        """``POST path``: a generation, answered as JSON or (``stream: true``) SSE."""
        return self.operation(
            "post", path, id, request=request, response=response, stream=True, errors=GENERATION_ERRORS, **options
        )

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(d.operation for d in self.declared)

    def routes(self, settings: Settings) -> list[Route]:
        """One route per declared operation (none when the module is turned off)."""
        if self.enabled is not None and not self.enabled(settings):
            return []
        return [Route(d.operation.route_path, d.endpoint, methods=[d.operation.method.upper()]) for d in self.declared]
