"""The OpenAPI 3.1 document of zeroG's REST API, built from the routes it is given.

Each handler describes its own operations (``BaseHandler.openapi_paths``): ``POST /job/<type>``
gets one path per job type, its request body built from the marshmallow fields that type adds
to the base ones. This module adds what the operations share: the components they point at,
the document's header, and bearer auth. ``zeroG.http.routes.openapi_document`` builds it for
zeroG's own routes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zeroG import _zerog
from zeroG.http.base import BaseHandler
from zeroG.http.field_schema import object_schema
from zeroG.http.openapi_parts import STRING, JsonSchema, json_response, ref, response_ref
from zeroG.jobs import BaseJob, BaseJobSchema

__all__ = ["build_document"]

#: A route as Tornado takes it: a URL pattern and its handler class (and perhaps its kwargs).
Route = tuple[Any, ...]


_LOG_ENTRY: JsonSchema = {
    "type": "object",
    "required": ["timeStamp", "msg"],
    "properties": {"timeStamp": {"type": "string", "format": "date-time"}, "msg": {"type": "string"}},
}

_NON_NEGATIVE: JsonSchema = {"type": "integer", "minimum": 0}


def _components_schemas() -> JsonSchema:
    document = object_schema(BaseJobSchema().load_fields)
    # The log lists are lists of entries of a known shape: say which.
    document["properties"].update(
        events={"type": "array", "items": ref("LogEntry")},
        warnings={"type": "array", "items": ref("LogEntry")},
        errors={"type": "array", "items": ref("ErrorEntry")},
    )
    document["description"] = (
        "A job's whole document: zeroG's bookkeeping fields below, plus the job type's own fields."
        " showLogs says whether the events, warnings and errors lists are in it."
    )
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string", "description": "What went wrong."}},
        },
        "ValidationError": {
            "allOf": [ref("Error")],
            "type": "object",
            "properties": {
                "fields": {
                    "type": "object",
                    "description": "Field name to its messages; a nested field's are an object.",
                    "additionalProperties": {"type": ["array", "object"]},
                }
            },
        },
        "Created": {"type": "object", "required": ["uuid"], "properties": {"uuid": STRING}},
        "Progress": {
            "type": "object",
            "required": ["completeness", "result"],
            "properties": {
                "completeness": {"type": "number", "minimum": 0, "maximum": 1},
                "result": {"type": "integer", "description": "The result code; -1 until the job finishes."},
            },
        },
        "LogEntry": _LOG_ENTRY,
        "ErrorEntry": {
            **_LOG_ENTRY,
            "required": ["timeStamp", "errorCode", "msg"],
            "properties": {**_LOG_ENTRY["properties"], "errorCode": {"type": "integer"}},
        },
        "Info": {
            "allOf": [ref("Progress")],
            "type": "object",
            "required": ["events", "errors", "warnings"],
            "properties": {
                "events": {"type": "array", "items": ref("LogEntry")},
                "errors": {"type": "array", "items": ref("ErrorEntry")},
                "warnings": {"type": "array", "items": ref("LogEntry")},
            },
        },
        "JobData": {"type": "object", "description": "What the job's get_data() returns."},
        "JobDocument": document,
        "JobList": {
            "type": "object",
            "required": ["jobs", "next"],
            "properties": {
                "jobs": {"type": "array", "items": ref("JobDocument")},
                "next": {"type": ["string", "null"], "description": "The cursor of the next page; null on the last."},
            },
        },
        "Cancelled": {
            "type": "object",
            "required": ["uuid", "status"],
            "properties": {"uuid": STRING, "status": STRING},
        },
        "TubeCounts": {
            "type": "object",
            "required": ["ready", "reserved", "delayed", "buried"],
            "properties": {name: _NON_NEGATIVE for name in ("ready", "reserved", "delayed", "buried")},
        },
        "Queues": {
            "type": "object",
            "required": ["tubes"],
            "properties": {"tubes": {"type": "object", "additionalProperties": ref("TubeCounts")}},
        },
        "Worker": {
            "type": "object",
            "required": ["workerId", "host", "state", "retiring", "runningJobUuid", "mem"],
            "properties": {
                "workerId": {"type": "string", "examples": ["zerog+$web-3+$worker+$4242"]},
                "host": STRING,
                "state": {
                    "type": "string",
                    "enum": ["activeIdle", "activeRunning", "drainingIdle", "drainingRunning", "drainingDown"],
                },
                "retiring": {"type": "boolean"},
                "runningJobUuid": {"type": "string", "description": "The running job, or empty."},
                "mem": {
                    "type": "object",
                    "properties": {"available": _NON_NEGATIVE, "used": _NON_NEGATIVE},
                    "description": "Bytes the machine has available, and the worker process uses.",
                },
            },
        },
        "Workers": {
            "type": "object",
            "required": ["workers"],
            "properties": {"workers": {"type": "array", "items": ref("Worker")}},
        },
        "Steered": {
            "type": "object",
            "required": ["action", "workers"],
            "properties": {
                "action": {"type": "string", "enum": ["drain", "undrain", "retire"]},
                "workers": {"type": "array", "items": STRING},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "examples": ["ok"]}},
        },
    }


def _components_responses() -> JsonSchema:
    return {
        "BadRequest": json_response("The request is not valid.", ref("Error")),
        "InvalidJob": json_response(
            "The body is not a JSON object, or its fields are not valid for this job type.",
            ref("ValidationError"),
        ),
        "Unauthorized": json_response("No valid bearer token.", ref("Error")),
        "NotFound": json_response("No job with this uuid.", ref("Error")),
        "PayloadTooLarge": json_response("The body is too large.", ref("Error")),
        "Error": json_response("An error (for example 405, a method the route does not have).", ref("Error")),
    }


def build_document(
    routes: Sequence[Route],
    job_classes: Mapping[str, type[BaseJob]],
    *,
    title: str = "zeroG",
    version: str = _zerog.__version__,
    auth: bool = False,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` serving ``job_classes`` ({job type: class}, as
    ``zeroG.registry.registered()`` gives). With ``auth`` every route whose handler needs the
    token says so. Everything in it is plain JSON: ``json.dumps`` takes it as it is."""
    paths: JsonSchema = {}
    open_paths: set[str] = set()  # those whose handler answers without the token (/health)
    for pattern, handler, *_ in routes:
        if not (isinstance(handler, type) and issubclass(handler, BaseHandler)):
            continue  # a handler of the application's own: it says nothing about itself
        described = handler.openapi_paths(pattern, job_classes)
        paths.update(described)
        if not handler.auth_required:
            open_paths.update(described)
    components: JsonSchema = {
        "schemas": _components_schemas(),
        "responses": _components_responses(),
        "parameters": {
            "uuid": {
                "name": "uuid",
                "in": "path",
                "required": True,
                "schema": STRING,
                "description": "The job's uuid.",
            }
        },
    }
    doc: JsonSchema = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "tags": [
            {"name": "jobs", "description": "Making, following and cancelling jobs."},
            {"name": "system", "description": "The server and its queues."},
            {"name": "fleet", "description": "The workers: see them, drain, undrain and retire them."},
        ],
        "paths": paths,
        "components": components,
    }
    if auth:
        components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearerAuth": []}]
        for path, item in paths.items():
            for op in item.values():
                if path in open_paths:
                    op["security"] = []  # a load balancer's probe has no token
                else:
                    op["responses"]["401"] = response_ref("Unauthorized")
    return doc
