"""The OpenAPI document lists the error statuses each route can answer, with their schema.

They follow from how the API is built, so they are derived here once instead of being
repeated on every route: every route may answer 422 (the input guard, validation) and 503
(the database or the object store unavailable); a route that needs credentials 401 and
403; a route with path parameters 404; a route that changes state 409 (illegal transition,
a constraint); a route with a body 413, and 400 when the body cannot be parsed (not JSON, broken
multipart). Routes answering by a protocol of their own (OAuth 2.0, extract grants) may
also answer 400, in spe's error body or the protocol's. The others
use the one error body, ``{"error": {"code", "message", "details"}}``. Routes that answer
with HTML say so on the route itself (``response_class``, ``responses``), as does a route
answering a status the rules above do not give it (``responses={404: {…}}``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "Stable, dotted, for programs."},
            "message": {"type": "string", "description": "For people."},
            "details": {"description": "Optional context (e.g. each validation error)."},
        },
    }},
}
OAUTH_ERROR_SCHEMA = {
    "type": "object",
    "title": "OAuthError",
    "description": "An OAuth 2.0 error (RFC 6749 §5.2).",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
DESCRIPTIONS = {
    400: "Malformed request: a body that cannot be parsed, or refused by the protocol",
    401: "No valid credentials",
    403: "Authenticated, but not allowed",
    404: "Absent, or not visible to the caller",
    409: "Not allowed in the current state (illegal transition, duplicate)",
    413: "The request body is over this route's limit",
    422: "Invalid input",
    503: "The database or the object store is unavailable; retry after `Retry-After`",
}
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUTHENTICATED = frozenset({"roles", "authenticated", "components"})


def access_kind(route) -> str | None:
    declared = [d.call.access for d in route.dependant.dependencies
                if hasattr(d.call, "access")]
    return declared[0][0] if declared else None


def error_statuses(route, method: str) -> set[int]:
    statuses = {422, 503}
    kind = access_kind(route)
    if kind in AUTHENTICATED:
        statuses |= {401, 403}
    if kind == "protocol":
        statuses |= {400, 401, 403}
    if route.param_convertors:
        statuses.add(404)
    if method in CHANGING:
        statuses.add(409)
    if route.dependant.body_params or method in CHANGING:
        statuses.add(413)
    if route.dependant.body_params:
        statuses.add(400)
    return statuses


def install(app: FastAPI) -> None:
    """Make ``app.openapi`` add the error responses to the document FastAPI generates."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(Error=ERROR_SCHEMA, OAuthError=OAUTH_ERROR_SCHEMA)
        error = {"$ref": "#/components/schemas/Error"}
        either = {"anyOf": [error, {"$ref": "#/components/schemas/OAuthError"}]}
        for context in iter_route_contexts(app.routes):
            route = context.route
            if not hasattr(route, "dependant") or not route.include_in_schema:
                continue
            protocol = access_kind(route) == "protocol"
            for method in route.methods:
                operation = schema["paths"][route.path][method.lower()]
                responses = operation.setdefault("responses", {})
                declared = {int(s) for s in route.responses if int(s) >= 400}
                for status in sorted(error_statuses(route, method) | declared):
                    documented = responses.get(str(status), {})
                    if status != 422 and any(
                            kind != "application/json" or media.get("schema")
                            for kind, media in documented.get("content", {}).items()):
                        continue  # the route's own answer (HTML, a protocol's error)
                    body = either if protocol and status in (400, 401, 403) else error
                    responses[str(status)] = {
                        "description": documented.get("description") or DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": body}}}
        _drop_unused(schema, ("HTTPValidationError", "ValidationError"))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def _drop_unused(schema: dict, names: tuple[str, ...]) -> None:
    import json

    schemas = schema["components"]["schemas"]
    for name in names:
        rest = {k: v for k, v in schema.items() if k != "components"}
        others = {k: v for k, v in schemas.items() if k not in names}
        if f"#/components/schemas/{name}" not in json.dumps([rest, others]):
            schemas.pop(name, None)
