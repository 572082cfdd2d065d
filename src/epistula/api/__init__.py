"""The HTTP APIs, one package each: :mod:`.anthropic` (Messages, Models, Batches, Files),
:mod:`.admin` (the Admin API), :mod:`.openai` and :mod:`.legacy` (translations onto the
Messages pipeline), plus the shared request parsing (:mod:`.request`), the one SSE writer
(:mod:`.sse`) and error rendering (:mod:`.errors`). Handlers are thin: they parse, call a
service, and render. Each handler is declared with its route and its description
(:mod:`.operations`); :mod:`.surface` gathers every declaration into the routes the app
mounts and the OpenAPI document (:mod:`.openapi`) it serves. Only :mod:`epistula.http`
imports this package."""
