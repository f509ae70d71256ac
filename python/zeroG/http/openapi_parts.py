"""The pieces each handler's OpenAPI description is made of.

Every handler describes its own operations (its ``OPENAPI`` class attribute, next to the code
that answers them), so that ``zeroG.http.routes.default_routes()`` is the one list of routes:
the document is built by walking it. The shared components these descriptions point at (the
``$ref`` targets) are in ``zeroG.http.openapi``.
"""

from __future__ import annotations

import re
from typing import Any

JsonSchema = dict[str, Any]

STRING: JsonSchema = {"type": "string"}

#: The ``uuid`` path parameter, defined once in the document's components.
_UUID_PARAM: JsonSchema = {"$ref": "#/components/parameters/uuid"}

# A named group of a route pattern, as Tornado takes them: (?P<uuid>[^/]+).
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def openapi_path(pattern: str) -> str:
    """The OpenAPI path of a route pattern: each named group becomes a ``{name}`` parameter."""
    return _GROUP.sub(r"{\1}", pattern)


def ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def response_ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/responses/{name}"}


def json_response(description: str, schema: JsonSchema) -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def text_response(description: str, media_type: str) -> JsonSchema:
    return {"description": description, "content": {media_type: {"schema": STRING}}}


_NOT_FOUND: JsonSchema = {"404": response_ref("NotFound")}


def query(name: str, schema: JsonSchema, description: str) -> JsonSchema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def operation(op_id: str, summary: str, tag: str, responses: JsonSchema, **extra: Any) -> JsonSchema:
    """One operation. Every one may also answer with the JSON error shape (a 405, say)."""
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        **extra,
        "responses": {**responses, "default": response_ref("Error")},
    }


def job_operation(method: str, op_id: str, summary: str, ok: JsonSchema, *params: JsonSchema) -> dict[str, JsonSchema]:
    """A handler's ``OPENAPI`` for one operation on the job its route's uuid names: ``ok`` (the
    200 response), or 404 when there is no such job."""
    return {method: operation(op_id, summary, "jobs", {"200": ok, **_NOT_FOUND}, parameters=[_UUID_PARAM, *params])}
