"""Marshmallow fields as JSON Schema 2020-12 (the dialect of OpenAPI 3.1): what a field accepts
when a schema loads it.

The conversion is deliberately small. Each field is described by its plain JSON form (an
Integer is a JSON integer, though marshmallow also takes "12"); a field kind it does not know
becomes ``{}`` (any value) and a validator it does not know adds nothing, so an unusual schema
gives a looser description rather than an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import Schema, fields, missing, validate

from zeroG.http.openapi_parts import JsonSchema

__all__ = ["field_schema", "object_schema"]

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


def object_schema(schema_fields: Mapping[str, fields.Field], seen: frozenset[type] = frozenset()) -> JsonSchema:
    """The object that a schema with these (load) fields accepts. Keys are the data keys: what
    the client sends, not the attribute names."""
    properties: JsonSchema = {}
    required: list[str] = []
    for name, field in schema_fields.items():
        key = field.data_key or name
        properties[key] = field_schema(field, seen)
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
    return object_schema(schema.load_fields, seen | {type(schema)})


def _kind_schema(field: fields.Field, seen: frozenset[type]) -> JsonSchema:
    """The JSON type of one field's value, before validators, null and default."""
    if isinstance(field, fields.Pluck):  # before Nested, which it subclasses: one field's value
        item = field_schema(field.schema.fields[field.field_name], seen)
        return {"type": "array", "items": item} if field.many else item
    if isinstance(field, fields.Nested):
        obj = _nested_schema(field.schema, seen)
        return {"type": "array", "items": obj} if field.many or field.schema.many else obj
    if isinstance(field, fields.List):
        return {"type": "array", "items": field_schema(field.inner, seen)}
    if isinstance(field, fields.Tuple):
        items = [field_schema(f, seen) for f in field.tuple_fields]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if isinstance(field, fields.Mapping):  # Dict
        out: JsonSchema = {"type": "object"}
        if field.key_field is not None:
            out["propertyNames"] = field_schema(field.key_field, seen)
        if field.value_field is not None:
            out["additionalProperties"] = field_schema(field.value_field, seen)
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


def field_schema(field: fields.Field, seen: frozenset[type] = frozenset()) -> JsonSchema:
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
