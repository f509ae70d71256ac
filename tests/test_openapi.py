"""The OpenAPI document (zeroG.http.openapi): a path per job type with the body its schema accepts, the
marshmallow-to-JSON-Schema mapping, the shared routes and components, bearer auth, and that the
document is valid OpenAPI 3.1 and plain JSON.

The job classes are defined here; their JOB_TYPEs start with ``openapi_`` so that they never clash
with the other tests' classes (the registry is global).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from marshmallow import Schema, fields, pre_load, validate
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_spec

import zeroG
from zeroG import registry
from zeroG.errors import InvalidJobValues
from zeroG.http.listing import MAX_PAGE
from zeroG.http.routes import default_routes, openapi_document
from zeroG.jobs import BaseJob, BaseJobSchema, make_base_job


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class CropSchema(Schema):
    x = fields.Integer(required=True)
    y = fields.Integer(required=True)


class TreeSchema(Schema):
    name = fields.String()
    children = fields.List(fields.Nested(lambda: TreeSchema()))


class Opaque(fields.Field):
    """A field kind the converter has never heard of."""


def _is_even(value: int) -> None:
    """A validator the converter does not know: it must add nothing."""


class ResizeJobSchema(BaseJobSchema):
    path = fields.String(required=True, validate=validate.Length(min=1, max=255))
    width = fields.Integer(required=True, validate=validate.And(validate.Range(min=1, max=10000), _is_even))
    scale = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=4, min_inclusive=False))
    mode = fields.String(load_default="fit", validate=validate.OneOf(["fit", "fill", "crop"]))
    tags = fields.List(fields.String(), load_default=list, validate=validate.Length(max=5))
    channels = fields.List(fields.String(), validate=validate.ContainsOnly(["r", "g", "b"]))
    code = fields.String(validate=validate.Length(equal=3), metadata={"description": "A 3-letter code."})
    options = fields.Dict(keys=fields.String(), values=fields.Integer(), validate=validate.Length(max=10))
    crop = fields.Nested(CropSchema, allow_none=True)
    crops = fields.Nested(CropSchema, many=True)
    first_x = fields.Pluck(CropSchema, "x")
    pair = fields.Tuple((fields.Integer(), fields.String()))
    tree = fields.Nested(TreeSchema)
    notify = fields.Email()
    callback = fields.Url(data_key="callbackUrl")
    link = fields.Url(relative=True)
    parent = fields.UUID()
    due = fields.DateTime()
    not_before = fields.DateTime(load_default=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    since = fields.DateTime(format="timestamp")
    day = fields.Date(validate=validate.Range(min=dt.date(2000, 1, 1)))
    at = fields.Time()
    size = fields.Enum(Size, load_default=Size.SMALL)
    color = fields.Enum(Color, by_value=True)
    level = fields.Enum(Color, by_value=fields.Integer)
    extra = fields.Raw()
    flavour = fields.Raw(validate=validate.OneOf(["sweet", 1]))
    flag = fields.Boolean(load_default=False)
    ratio = fields.Decimal()
    note = fields.String(load_default=None)
    opaque = Opaque()
    computed = fields.Function(deserialize=lambda value: value)
    server_side = fields.String(dump_only=True)


class ResizeJob(BaseJob):
    """Resizes an image."""

    JOB_TYPE = "openapi_resize"
    SCHEMA = ResizeJobSchema
    QUEUE_NAME = "openapi_jobs"

    def run(self) -> Any:
        return (0, False)


class PingJob(BaseJob):
    JOB_TYPE = "openapi_ping"
    QUEUE_NAME = "openapi_jobs"

    def run(self) -> Any:
        return (0, False)


class HookedJobSchema(BaseJobSchema):
    label = fields.String(required=True)
    # Redeclared with the base field's own type: still a base field, not the job's.
    queueName = fields.String(allow_none=True)

    @pre_load
    def strip_label(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if isinstance(data.get("label"), str):
            data = {**data, "label": data["label"].strip()}
        return data


class HookedJob(BaseJob):
    JOB_TYPE = "openapi_hooked"
    SCHEMA = HookedJobSchema
    QUEUE_NAME = "openapi_jobs"

    def run(self) -> Any:
        return (0, False)


OUR_TYPES = {"openapi_resize": ResizeJob, "openapi_ping": PingJob, "openapi_hooked": HookedJob}

# Every route but POST /job/<type> (which has a path per job type), with its one method: read off
# default_routes(), the one list of routes.
STATIC_ROUTES = {
    path: method
    for pattern, handler in default_routes()
    for path, item in handler.openapi_paths(pattern, {}).items()  # type: ignore[attr-defined]
    for method in item
}


@pytest.fixture(scope="module")
def registered() -> dict[str, type[BaseJob]]:
    return registry.build_registry()


def body_schema(doc: dict[str, Any], job_type: str) -> dict[str, Any]:
    op = doc["paths"][f"/job/{job_type}"]["post"]
    schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
    return schema


@pytest.fixture(scope="module")
def resize() -> dict[str, Any]:
    """The request body schema of openapi_resize, its properties by data key."""
    return body_schema(openapi_document(OUR_TYPES), "openapi_resize")


def refs(node: Any) -> list[str]:
    """Every $ref in a document."""
    if isinstance(node, dict):
        return [r for k, v in node.items() for r in ([v] if k == "$ref" else refs(v))]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


# -- a path per job type -----------------------------------------------------------------------


def test_every_registered_type_has_its_path(registered: dict[str, type[BaseJob]]) -> None:
    assert OUR_TYPES.items() <= registered.items()
    doc = openapi_document(registered)
    job_paths = {path for path in doc["paths"] if path.startswith("/job/")}
    assert job_paths == {f"/job/{job_type}" for job_type in registered}
    for job_type in registered:
        op = doc["paths"][f"/job/{job_type}"]["post"]
        assert op["operationId"] == f"create_{job_type}"
        assert op["requestBody"]["required"] is True
        assert set(op["responses"]) == {"201", "400", "413", "default"}
        assert op["responses"]["201"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Created"
        }
        assert op["responses"]["400"] == {"$ref": "#/components/responses/InvalidJob"}
    # The class's own docstring describes its operation; none is inherited from BaseJob.
    assert doc["paths"]["/job/openapi_resize"]["post"]["description"] == "Resizes an image."
    assert "description" not in doc["paths"]["/job/openapi_ping"]["post"]


def test_body_has_only_the_jobs_own_fields_and_its_required_list(resize: dict[str, Any]) -> None:
    assert resize["type"] == "object"
    assert resize["title"] == "ResizeJobSchema"
    assert resize["required"] == ["path", "width"]
    props = resize["properties"]
    assert not set(props) & set(BaseJobSchema._declared_fields)
    # data_key is the name the client sends; dump_only fields are not sent at all.
    assert "callbackUrl" in props and "callback" not in props
    assert "server_side" not in props
    assert set(props) == set(ResizeJobSchema._declared_fields) - set(BaseJobSchema._declared_fields) - {
        "callback",
        "server_side",
    } | {"callbackUrl"}


def test_job_without_own_fields_and_job_with_hooks() -> None:
    doc = openapi_document(OUR_TYPES)
    assert body_schema(doc, "openapi_ping") == {"type": "object", "properties": {}, "title": "BaseJobSchema"}
    # A schema with hooks is validated whole (its _own_schema has every base field), but its
    # body is still only the job's own fields.
    own = HookedJob._own_schema()
    assert own is not None and "status" in own.fields
    hooked = body_schema(doc, "openapi_hooked")
    assert hooked["properties"] == {"label": {"type": "string"}}
    assert hooked["required"] == ["label"]


def test_property_types(resize: dict[str, Any]) -> None:
    props = resize["properties"]
    crop = {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["x", "y"],
    }
    assert props["path"]["type"] == "string"
    assert props["width"]["type"] == "integer"
    assert props["scale"]["type"] == "number"
    assert props["ratio"] == {"type": "number"}  # Decimal, a Number
    assert props["flag"]["type"] == "boolean"
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}
    assert props["options"] == {
        "type": "object",
        "propertyNames": {"type": "string"},
        "additionalProperties": {"type": "integer"},
        "maxProperties": 10,
    }
    assert props["crop"] == {**crop, "type": ["object", "null"]}
    assert props["crops"] == {"type": "array", "items": crop}
    assert props["first_x"] == {"type": "integer"}
    assert props["pair"] == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
    }
    assert props["notify"] == {"type": "string", "format": "email"}
    assert props["callbackUrl"] == {"type": "string", "format": "uri"}
    assert props["link"] == {"type": "string", "format": "uri-reference"}
    assert props["parent"] == {"type": "string", "format": "uuid"}
    assert props["due"] == {"type": "string", "format": "date-time"}
    assert props["since"] == {"type": "number"}
    assert props["at"] == {"type": "string", "format": "time"}
    assert props["size"]["type"] == "string" and props["size"]["enum"] == ["SMALL", "LARGE"]
    assert props["color"] == {"enum": [1, 2]}
    assert props["level"] == {"type": "integer", "enum": [1, 2]}
    assert props["extra"] == {}


def test_unknown_field_kinds_are_any_value(resize: dict[str, Any]) -> None:
    assert resize["properties"]["opaque"] == {}
    assert resize["properties"]["computed"] == {}


def test_self_nesting_schema_ends() -> None:
    tree = openapi_document(OUR_TYPES)
    children = body_schema(tree, "openapi_resize")["properties"]["tree"]["properties"]["children"]
    assert children["type"] == "array"
    assert children["items"] == {"type": "object"}


def test_validators(resize: dict[str, Any]) -> None:
    props = resize["properties"]
    assert props["path"] == {"type": "string", "minLength": 1, "maxLength": 255}
    # And is looked into; the unknown validator beside Range adds nothing.
    assert props["width"] == {"type": "integer", "minimum": 1, "maximum": 10000}
    assert props["scale"] == {"type": "number", "exclusiveMinimum": 0, "maximum": 4, "default": 1.0}
    assert props["mode"] == {"type": "string", "enum": ["fit", "fill", "crop"], "default": "fit"}
    assert props["tags"]["maxItems"] == 5 and "minItems" not in props["tags"]
    assert props["channels"] == {"type": "array", "items": {"type": "string", "enum": ["r", "g", "b"]}}
    assert props["code"] == {"type": "string", "minLength": 3, "maxLength": 3, "description": "A 3-letter code."}
    assert props["flavour"] == {"enum": ["sweet", 1]}
    # A Range over dates has no JSON bound.
    assert props["day"] == {"type": "string", "format": "date"}


def test_defaults_and_null(resize: dict[str, Any]) -> None:
    props = resize["properties"]
    assert props["flag"]["default"] is False
    # Dumped by the field: a datetime as its ISO string, an enum member by its name.
    assert props["not_before"]["default"] == "2024-01-02T03:04:05+00:00"
    assert props["size"]["default"] == "SMALL"
    # A factory gives a new value on each load: no default is shown.
    assert "default" not in props["tags"]
    # load_default=None allows null.
    assert props["note"] == {"type": ["string", "null"], "default": None}
    assert "default" not in props["path"]


# The body schema and marshmallow agree: what one takes the other takes. Each bad body names the
# field that marshmallow reports.
GOOD_BODIES = [
    {"path": "a.png", "width": 100},
    {
        "path": "a.png",
        "width": 100,
        "scale": 2.5,
        "mode": "crop",
        "tags": ["x", "y"],
        "channels": ["r", "b"],
        "code": "abc",
        "options": {"q": 90},
        "crop": None,
        "crops": [{"x": 1, "y": 2}],
        "first_x": 3,
        "pair": [1, "a"],
        "tree": {"name": "root", "children": [{"name": "leaf", "children": []}]},
        "notify": "a@example.com",
        "callbackUrl": "https://example.com/done",
        "link": "/relative/path",
        "parent": "7d7e2b7c-3a47-4e3c-9d7f-5ad1f1c9f3a1",
        "due": "2024-05-01T12:00:00+00:00",
        "since": 1714564800,
        "day": "2024-05-01",
        "at": "12:30:00",
        "size": "LARGE",
        "color": 2,
        "level": 1,
        "extra": {"anything": [1, 2]},
        "flavour": 1,
        "flag": True,
        "ratio": 1.5,
        "note": None,
        "opaque": "whatever",
    },
]
BAD_BODIES = [
    ({"width": 100}, "path"),
    ({"path": "a.png"}, "width"),
    ({"path": "", "width": 100}, "path"),
    ({"path": "a.png", "width": 0}, "width"),
    ({"path": "a.png", "width": 10001}, "width"),
    ({"path": "a.png", "width": 100, "scale": 0}, "scale"),
    ({"path": "a.png", "width": 100, "scale": 4.5}, "scale"),
    ({"path": "a.png", "width": 100, "mode": "zoom"}, "mode"),
    ({"path": "a.png", "width": 100, "tags": ["t"] * 6}, "tags"),
    ({"path": "a.png", "width": 100, "tags": [1]}, "tags"),
    ({"path": "a.png", "width": 100, "channels": ["r", "x"]}, "channels"),
    ({"path": "a.png", "width": 100, "code": "ab"}, "code"),
    ({"path": "a.png", "width": 100, "options": {"q": "high"}}, "options"),
    ({"path": "a.png", "width": 100, "crop": {"x": 1}}, "crop"),
    ({"path": "a.png", "width": 100, "crops": {"x": 1, "y": 2}}, "crops"),
    ({"path": "a.png", "width": 100, "pair": [1, "a", "extra"]}, "pair"),
    ({"path": "a.png", "width": 100, "size": "small"}, "size"),
    ({"path": "a.png", "width": 100, "color": 3}, "color"),
    ({"path": "a.png", "width": 100, "flavour": "sour"}, "flavour"),
    ({"path": "a.png", "width": 100, "flag": [True]}, "flag"),
    ({"path": None, "width": 100}, "path"),
]


@pytest.mark.parametrize("body", GOOD_BODIES)
def test_good_bodies_pass_both(resize: dict[str, Any], body: dict[str, Any]) -> None:
    Draft202012Validator(resize).validate(body)
    job = make_base_job(body, "openapi_resize")
    assert isinstance(job, ResizeJob)


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_bodies_fail_both(resize: dict[str, Any], body: dict[str, Any], field: str) -> None:
    assert not Draft202012Validator(resize).is_valid(body)
    with pytest.raises(InvalidJobValues) as e:
        make_base_job(body, "openapi_resize")
    assert field in e.value.messages


# -- the shared routes, components and auth ----------------------------------------------------


def test_static_routes_and_components() -> None:
    doc = openapi_document(OUR_TYPES)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "zeroG", "version": zeroG.__version__}
    for path, method in STATIC_ROUTES.items():
        assert set(doc["paths"][path]) == {method}, path
        op = doc["paths"][path][method]
        assert op["responses"]["default"] == {"$ref": "#/components/responses/Error"}
        # A route naming a job, a worker or a host answers 404 when there is none.
        assert ("404" in op["responses"]) == ("{" in path), path
    ops = [op for item in doc["paths"].values() for op in item.values()]
    assert len({op["operationId"] for op in ops}) == len(ops)

    def ok_schema(path: str, method: str = "get", media: str = "application/json") -> Any:
        return doc["paths"][path][method]["responses"]["200"]["content"][media]["schema"]

    assert ok_schema("/progress/{uuid}") == {"$ref": "#/components/schemas/Progress"}
    assert ok_schema("/info/{uuid}") == {"$ref": "#/components/schemas/Info"}
    assert ok_schema("/data/{uuid}") == {"$ref": "#/components/schemas/JobData"}
    assert ok_schema("/dump/{uuid}") == {"$ref": "#/components/schemas/JobDocument"}
    assert ok_schema("/jobs") == {"$ref": "#/components/schemas/JobList"}
    assert ok_schema("/cancel/{uuid}", "post") == {"$ref": "#/components/schemas/Cancelled"}
    assert ok_schema("/queues") == {"$ref": "#/components/schemas/Queues"}
    assert ok_schema("/health") == {"$ref": "#/components/schemas/Health"}
    assert ok_schema("/workers") == {"$ref": "#/components/schemas/Workers"}
    assert ok_schema("/hosts/{host}/{action}", "post") == {"$ref": "#/components/schemas/Steered"}
    actions = {p["name"]: p for p in doc["paths"]["/workers/{worker_id}/{action}"]["post"]["parameters"]}
    assert actions["action"]["schema"]["enum"] == ["drain", "undrain", "retire"] and actions["worker_id"]["required"]
    assert ok_schema("/watch/{uuid}", media="text/event-stream") == {"type": "string"}
    assert ok_schema("/metrics", media="text/plain") == {"type": "string"}

    dump_params = [p.get("name") for p in doc["paths"]["/dump/{uuid}"]["get"]["parameters"]]
    assert dump_params == [None, "showLogs"]  # the uuid is a $ref
    jobs_params = {p["name"]: p["schema"] for p in doc["paths"]["/jobs"]["get"]["parameters"]}
    assert jobs_params == {
        "status": {"type": "string"},
        "type": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        "cursor": {"type": "string"},
    }

    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error"]
    assert "fields" in schemas["ValidationError"]["properties"]
    assert schemas["Progress"]["required"] == ["completeness", "result"]
    assert set(schemas["Info"]["properties"]) == {"events", "errors", "warnings"}
    assert schemas["ErrorEntry"]["required"] == ["timeStamp", "errorCode", "msg"]
    assert set(schemas["TubeCounts"]["required"]) == {"ready", "reserved", "delayed", "buried"}
    assert schemas["JobList"]["properties"]["next"]["type"] == ["string", "null"]
    # The job document lists every base field.
    assert set(schemas["JobDocument"]["properties"]) == set(BaseJobSchema._declared_fields)
    assert schemas["JobDocument"]["properties"]["queueName"]["type"] == ["string", "null"]
    # Every $ref points at something that is there.
    for ref in refs(doc):
        section, name = ref.removeprefix("#/components/").split("/")
        assert name in doc["components"][section], ref


def test_no_auth_by_default() -> None:
    doc = openapi_document(OUR_TYPES)
    assert "security" not in doc
    assert "securitySchemes" not in doc["components"]
    assert all("401" not in op["responses"] for item in doc["paths"].values() for op in item.values())


def test_bearer_auth_everywhere_but_health() -> None:
    doc = openapi_document(OUR_TYPES, auth=True)
    assert doc["components"]["securitySchemes"] == {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    assert doc["security"] == [{"bearerAuth": []}]
    health = doc["paths"]["/health"]["get"]
    assert health["security"] == []
    assert "401" not in health["responses"]
    for path, item in doc["paths"].items():
        if path != "/health":
            for op in item.values():
                assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}, path
                assert "security" not in op  # the document's own applies


def test_title_version_and_odd_job_types() -> None:
    doc = openapi_document({"openapi odd/type": PingJob}, title="Images", version="9.9")
    assert doc["info"] == {"title": "Images", "version": "9.9"}
    # A job type is one path segment: a space or a slash in it is percent-encoded.
    assert "/job/openapi%20odd%2Ftype" in doc["paths"]


# -- valid OpenAPI 3.1, plain JSON -------------------------------------------------------------


@pytest.mark.parametrize("auth", [False, True])
def test_document_is_valid_openapi_31(registered: dict[str, type[BaseJob]], auth: bool) -> None:
    doc = openapi_document(registered, auth=auth)
    validate_spec(doc, cls=OpenAPIV31SpecValidator)
    # Each body is a valid JSON Schema 2020-12 too (the dialect of OpenAPI 3.1).
    for job_type in registered:
        Draft202012Validator.check_schema(body_schema(doc, job_type))


def test_document_is_plain_json(registered: dict[str, type[BaseJob]]) -> None:
    doc = openapi_document(registered, auth=True)
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text) == doc
