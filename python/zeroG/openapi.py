"""The OpenAPI 3.1 document of zeroG's REST API.

``openapi_document(registry.registered())`` describes every route; ``POST /job/<type>`` gets one
path per job type, its request body built from the marshmallow fields that type adds to the base
ones. OpenAPI 3.1 schemas are JSON Schema 2020-12, so the fields are converted to that.

The conversion is deliberately small. Each field is described by its plain JSON form (an
Integer is a JSON integer, though marshmallow also takes "12"); a field kind it does not know
becomes ``{}`` (any value) and a validator it does not know adds nothing, so an unusual schema
gives a looser description rather than an error.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from marshmallow import Schema, fields, missing, validate

from zeroG import _zerog
from zeroG.jobs import BaseJob, BaseJobSchema

__all__ = ["openapi_document"]

JsonSchema = dict[str, Any]

# String fields with a JSON Schema format. Subclasses come before their parents: Email and Url
# are Strings, IPv4 and IPv6 are IPs.
_STRING_FORMATS: tuple[tuple[type[fields.Field], str | None], ...] = (
    (fields.Email, "email"),
    (fields.Url, "uri"),
    (fields.UUID, "uuid"),
    (fields.IPv4, "ipv4"),
    (fields.IPv6, "ipv6"),
    (fields.IP, None),
    (fields.String, None),
)

# The formats of the date and time fields when they read ISO 8601 (their default).
_ISO_FORMATS: tuple[tuple[type[fields.Field], str], ...] = (
    (fields.DateTime, "date-time"),
    (fields.Date, "date"),
    (fields.Time, "time"),
)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


# -- marshmallow fields to JSON Schema ---------------------------------------------------------


def _object_schema(schema_fields: Mapping[str, fields.Field], seen: frozenset[type] = frozenset()) -> JsonSchema:
    """The object that a schema with these (load) fields accepts. Keys are the data keys: what
    the client sends, not the attribute names."""
    properties: JsonSchema = {}
    required: list[str] = []
    for name, field in schema_fields.items():
        key = field.data_key or name
        properties[key] = _field_schema(field, seen)
        if field.required:
            required.append(key)
    out: JsonSchema = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def _nested_schema(schema: Schema, seen: frozenset[type]) -> JsonSchema:
    # A schema nested in itself (directly or not) would recurse forever: its inner copy is just
    # an object.
    if type(schema) in seen:
        return {"type": "object"}
    return _object_schema(schema.load_fields, seen | {type(schema)})


def _kind_schema(field: fields.Field, seen: frozenset[type]) -> JsonSchema:
    """The JSON type of one field's value, before validators, null and default."""
    if isinstance(field, fields.Pluck):  # before Nested, which it subclasses: one field's value
        item = _field_schema(field.schema.fields[field.field_name], seen)
        return {"type": "array", "items": item} if field.many else item
    if isinstance(field, fields.Nested):
        obj = _nested_schema(field.schema, seen)
        return {"type": "array", "items": obj} if field.many or field.schema.many else obj
    if isinstance(field, fields.List):
        return {"type": "array", "items": _field_schema(field.inner, seen)}
    if isinstance(field, fields.Tuple):
        items = [_field_schema(f, seen) for f in field.tuple_fields]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if isinstance(field, fields.Mapping):  # Dict
        out: JsonSchema = {"type": "object"}
        if field.key_field is not None:
            out["propertyNames"] = _field_schema(field.key_field, seen)
        if field.value_field is not None:
            out["additionalProperties"] = _field_schema(field.value_field, seen)
        return out
    if isinstance(field, fields.Enum):
        # By name (the default) the client sends the member's name; by value, its value, read
        # by the field given as by_value (Raw for True).
        if field.by_value is False:
            return {"type": "string", "enum": list(field.enum.__members__)}
        values = [member.value for member in field.enum]
        out = _kind_schema(field.field, seen)
        if _jsonable(values):
            out["enum"] = values
        return out
    if isinstance(field, fields.Boolean):
        return {"type": "boolean"}
    if isinstance(field, fields.Integer):  # before Number, its parent
        return {"type": "integer"}
    if isinstance(field, fields.Number):  # Float, Decimal
        return {"type": "number"}
    for cls, fmt in _ISO_FORMATS:
        if isinstance(field, cls):
            return _temporal_schema(field, fmt)
    for cls, string_format in _STRING_FORMATS:
        if isinstance(field, cls):
            out = {"type": "string"}
            if string_format == "uri" and getattr(field, "relative", False):
                string_format = "uri-reference"  # a Url(relative=True) takes "/a/b" too
            if string_format:
                out["format"] = string_format
            return out
    return {}  # Raw, and any field kind not known here: any value


def _temporal_schema(field: fields.Field, iso_format: str) -> JsonSchema:
    fmt = getattr(field, "format", None) or "iso"
    if fmt in ("iso", "iso8601"):
        return {"type": "string", "format": iso_format}
    if fmt in ("timestamp", "timestamp_ms"):  # DateTime's POSIX timestamps
        return {"type": "number"}
    return {"type": "string"}  # RFC 822 or a strftime format: no JSON Schema format for those


def _apply_validators(out: JsonSchema, validators: Iterable[Any]) -> None:
    """Adds what the known validators check. They check the loaded value, so bounds or choices
    that are not JSON (dates, enum members) are left out."""
    for v in validators:
        if isinstance(v, validate.And):
            _apply_validators(out, v.validators)
        elif isinstance(v, validate.ContainsOnly):  # before OneOf, its parent: each list item
            choices = list(v.choices)
            if "items" in out and _jsonable(choices):
                out["items"] = {**out["items"], "enum": choices}
        elif isinstance(v, validate.OneOf):
            choices = list(v.choices)
            if _jsonable(choices):
                out["enum"] = choices
        elif isinstance(v, validate.Range):
            _apply_range(out, v)
        elif isinstance(v, validate.Length):
            _apply_length(out, v)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and _jsonable(value)


def _apply_range(out: JsonSchema, v: validate.Range) -> None:
    if _is_number(v.min):
        out["minimum" if v.min_inclusive else "exclusiveMinimum"] = v.min
    if _is_number(v.max):
        out["maximum" if v.max_inclusive else "exclusiveMaximum"] = v.max


# The JSON Schema words for Length's bounds, by the JSON type whose length it measures.
_LENGTH_WORDS = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}


def _apply_length(out: JsonSchema, v: validate.Length) -> None:
    words = _LENGTH_WORDS.get(out.get("type", ""))
    if words is None:
        return  # a Length on a Raw field: nothing says which length it is
    low, high = (v.equal, v.equal) if v.equal is not None else (v.min, v.max)
    if low is not None:
        out[words[0]] = low
    if high is not None:
        out[words[1]] = high


def _allow_null(out: JsonSchema) -> None:
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    # No type at all is any value, null included.


def _default(field: fields.Field) -> tuple[bool, Any]:
    """(True, the field's load_default as the client would send it) if there is one in JSON.

    A callable default (a factory) gives a new value on each load, so none is shown. The value
    is dumped by the field itself, so a date becomes its ISO string and an enum member its name.
    """
    default = field.load_default
    if default is missing or callable(default):
        return False, None
    if default is None:
        return True, None
    try:
        value = field.serialize("default", None, accessor=lambda _obj, _key, _missing: default)
    except Exception:  # a default the field cannot dump: leave it out rather than fail
        return False, None
    return (value is not missing and _jsonable(value)), value


def _field_schema(field: fields.Field, seen: frozenset[type] = frozenset()) -> JsonSchema:
    """The JSON Schema of what ``field`` accepts on load."""
    out = _kind_schema(field, seen)
    _apply_validators(out, field.validators)
    if field.allow_none:
        _allow_null(out)
    has_default, default = _default(field)
    if has_default:
        out["default"] = default
    description = field.metadata.get("description")
    if isinstance(description, str):
        out["description"] = description
    return out


def _own_fields(cls: type[BaseJob]) -> dict[str, fields.Field]:
    """The fields a client sends for a job of ``cls``: the ones its schema adds to the base
    bookkeeping fields (which zeroG writes itself). This is BaseJob._own_schema()'s rule, without
    its exception for schemas with hooks: that one is about validating, not about what is sent."""
    base = BaseJobSchema._declared_fields
    return {
        name: field
        for name, field in cls._schema().load_fields.items()
        if name not in base or type(field) is not type(base[name])
    }


def _job_body_schema(cls: type[BaseJob]) -> JsonSchema:
    """The JSON Schema of ``POST /job/<type>``'s body for a job class."""
    out = _object_schema(_own_fields(cls))
    out["title"] = cls.SCHEMA.__name__
    return out


# -- the document ------------------------------------------------------------------------------


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_response(description: str, schema: JsonSchema) -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _response_ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/responses/{name}"}


_LOG_ENTRY: JsonSchema = {
    "type": "object",
    "required": ["timeStamp", "msg"],
    "properties": {"timeStamp": {"type": "string", "format": "date-time"}, "msg": {"type": "string"}},
}

_STRING: JsonSchema = {"type": "string"}
_NON_NEGATIVE: JsonSchema = {"type": "integer", "minimum": 0}


def _components_schemas() -> JsonSchema:
    document = _object_schema(BaseJobSchema().load_fields)
    # The log lists are lists of entries of a known shape: say which.
    document["properties"].update(
        events={"type": "array", "items": _ref("LogEntry")},
        warnings={"type": "array", "items": _ref("LogEntry")},
        errors={"type": "array", "items": _ref("ErrorEntry")},
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
            "allOf": [_ref("Error")],
            "type": "object",
            "properties": {
                "fields": {
                    "type": "object",
                    "description": "Field name to its messages; a nested field's are an object.",
                    "additionalProperties": {"type": ["array", "object"]},
                }
            },
        },
        "Created": {"type": "object", "required": ["uuid"], "properties": {"uuid": _STRING}},
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
            "allOf": [_ref("Progress")],
            "type": "object",
            "required": ["events", "errors", "warnings"],
            "properties": {
                "events": {"type": "array", "items": _ref("LogEntry")},
                "errors": {"type": "array", "items": _ref("ErrorEntry")},
                "warnings": {"type": "array", "items": _ref("LogEntry")},
            },
        },
        "JobData": {"type": "object", "description": "What the job's get_data() returns."},
        "JobDocument": document,
        "JobList": {
            "type": "object",
            "required": ["jobs", "next"],
            "properties": {
                "jobs": {"type": "array", "items": _ref("JobDocument")},
                "next": {"type": ["string", "null"], "description": "The cursor of the next page; null on the last."},
            },
        },
        "Cancelled": {
            "type": "object",
            "required": ["uuid", "status"],
            "properties": {"uuid": _STRING, "status": _STRING},
        },
        "TubeCounts": {
            "type": "object",
            "required": ["ready", "reserved", "delayed", "buried"],
            "properties": {name: _NON_NEGATIVE for name in ("ready", "reserved", "delayed", "buried")},
        },
        "Queues": {
            "type": "object",
            "required": ["tubes"],
            "properties": {"tubes": {"type": "object", "additionalProperties": _ref("TubeCounts")}},
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "examples": ["ok"]}},
        },
    }


def _components_responses() -> JsonSchema:
    return {
        "BadRequest": _json_response("The request is not valid.", _ref("Error")),
        "InvalidJob": _json_response(
            "The body is not a JSON object, or its fields are not valid for this job type.",
            _ref("ValidationError"),
        ),
        "Unauthorized": _json_response("No valid bearer token.", _ref("Error")),
        "NotFound": _json_response("No job with this uuid.", _ref("Error")),
        "PayloadTooLarge": _json_response("The body is too large.", _ref("Error")),
        "Error": _json_response("An error (for example 405, a method the route does not have).", _ref("Error")),
    }


def _operation(op_id: str, summary: str, tag: str, responses: JsonSchema, **extra: Any) -> JsonSchema:
    """One operation. Every one may also answer with the JSON error shape (a 405, say)."""
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        **extra,
        "responses": {**responses, "default": _response_ref("Error")},
    }


_UUID_PARAM: JsonSchema = {"$ref": "#/components/parameters/uuid"}
_NOT_FOUND: JsonSchema = {"404": _response_ref("NotFound")}


def _query(name: str, schema: JsonSchema, description: str) -> JsonSchema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _job_paths(job_classes: Mapping[str, type[BaseJob]]) -> JsonSchema:
    """``POST /job/<type>``, one path per job type, each with that type's body."""
    paths: JsonSchema = {}
    for job_type in sorted(job_classes):
        cls = job_classes[job_type]
        body = _job_body_schema(cls)
        op = _operation(
            f"create_{job_type}",
            f"Create and enqueue a {job_type} job",
            "jobs",
            {
                "201": _json_response("The job is saved and queued.", _ref("Created")),
                "400": _response_ref("InvalidJob"),
                "413": _response_ref("PayloadTooLarge"),
            },
            requestBody={"required": True, "content": {"application/json": {"schema": body}}},
        )
        # Only the class's own docstring: an inherited one describes another job.
        doc = cls.__dict__.get("__doc__")
        if doc:
            op["description"] = inspect.cleandoc(doc)
        # A job type is a path segment; anything not safe in one is percent-encoded.
        paths[f"/job/{quote(job_type, safe='')}"] = {"post": op}
    return paths


def _static_paths() -> JsonSchema:
    """Every route but ``POST /job/<type>``."""
    ok = _json_response
    return {
        "/progress/{uuid}": {
            "get": _operation(
                "getProgress",
                "A job's completeness and result",
                "jobs",
                {"200": ok("The job's progress.", _ref("Progress")), **_NOT_FOUND},
                parameters=[_UUID_PARAM],
            )
        },
        "/info/{uuid}": {
            "get": _operation(
                "getInfo",
                "A job's progress and its events, errors and warnings",
                "jobs",
                {"200": ok("The job's progress and logs.", _ref("Info")), **_NOT_FOUND},
                parameters=[_UUID_PARAM],
            )
        },
        "/data/{uuid}": {
            "get": _operation(
                "getData",
                "A job's result data",
                "jobs",
                {"200": ok("What the job's get_data() returns.", _ref("JobData")), **_NOT_FOUND},
                parameters=[_UUID_PARAM],
            )
        },
        "/dump/{uuid}": {
            "get": _operation(
                "dumpJob",
                "A job's whole document",
                "jobs",
                {"200": ok("The job's document.", _ref("JobDocument")), **_NOT_FOUND},
                parameters=[
                    _UUID_PARAM,
                    _query("showLogs", {"type": "boolean"}, "Include the events, warnings and errors lists."),
                ],
            )
        },
        "/jobs": {
            "get": _operation(
                "listJobs",
                "Jobs, a page at a time",
                "jobs",
                {"200": ok("A page of job documents.", _ref("JobList")), "400": _response_ref("BadRequest")},
                parameters=[
                    _query("status", _STRING, "Only jobs with this status (queued, running, done, ...)."),
                    _query("type", _STRING, "Only jobs of this job type."),
                    _query("limit", {"type": "integer", "minimum": 1}, "At most this many jobs."),
                    _query("cursor", _STRING, "Where to go on: the `next` of the previous page."),
                ],
            )
        },
        "/cancel/{uuid}": {
            "post": _operation(
                "cancelJob",
                "Cancel a job",
                "jobs",
                {"200": ok("The job and its status now.", _ref("Cancelled")), **_NOT_FOUND},
                parameters=[_UUID_PARAM],
            )
        },
        "/watch/{uuid}": {
            "get": _operation(
                "watchJob",
                "Follow a job as Server-Sent Events",
                "jobs",
                {
                    "200": {
                        "description": "A stream of Server-Sent Events about the job.",
                        "content": {"text/event-stream": {"schema": _STRING}},
                    },
                    **_NOT_FOUND,
                },
                parameters=[_UUID_PARAM],
            )
        },
        "/queues": {
            "get": _operation("getQueues", "Job counts per tube", "system", {"200": ok("Per tube.", _ref("Queues"))})
        },
        "/health": {
            "get": _operation("getHealth", "Whether the server is up", "system", {"200": ok("Up.", _ref("Health"))})
        },
        "/metrics": {
            "get": _operation(
                "getMetrics",
                "Metrics for Prometheus",
                "system",
                {
                    "200": {
                        "description": "The Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": _STRING}},
                    }
                },
            )
        },
        "/openapi.json": {
            "get": _operation(
                "getOpenapi",
                "This OpenAPI document",
                "system",
                {"200": ok("The OpenAPI 3.1 document.", {"type": "object"})},
            )
        },
    }


def openapi_document(
    job_classes: Mapping[str, type[BaseJob]],
    *,
    title: str = "zeroG",
    version: str = _zerog.__version__,
    auth: bool = False,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the REST API serving ``job_classes`` ({job type: class}, as
    ``zeroG.registry.registered()`` gives). With ``auth`` every route but /health takes a bearer
    token. Everything in it is plain JSON: ``json.dumps`` takes it as it is."""
    paths = {**_job_paths(job_classes), **_static_paths()}
    components: JsonSchema = {
        "schemas": _components_schemas(),
        "responses": _components_responses(),
        "parameters": {
            "uuid": {
                "name": "uuid",
                "in": "path",
                "required": True,
                "schema": _STRING,
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
        ],
        "paths": paths,
        "components": components,
    }
    if auth:
        components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearerAuth": []}]
        for path, item in paths.items():
            for op in item.values():
                if path == "/health":
                    op["security"] = []  # a load balancer's probe has no token
                else:
                    op["responses"]["401"] = _response_ref("Unauthorized")
    return doc
