"""The original zeroG's document rules (tiptapinc/zerog v0.0.46), restated by us for the
mixed-fleet tests: what its processes accept when they read a job document, and what they write
when they save one.

Its `BaseJobSchema` declares the fields below and nothing else, and loads with marshmallow's
default `unknown=RAISE`: a field it does not declare, at top level or in a log entry, makes the
document unreadable. None of its fields allows null. Its job classes add their own fields.
When it saves, it dumps what its job object carries: the declared fields but `queueName` (its
`BaseJob.__init__` never sets that attribute), times as naive ISO 8601 (UTC without an offset),
the document's CAS as a `cas` field, and `updatedAt` set to the time of the save.
"""

from __future__ import annotations

import datetime
from typing import Any

from marshmallow import Schema, fields


class EventSchema(Schema):
    timeStamp = fields.DateTime(format="iso")
    msg = fields.String(required=True)


class ErrorSchema(Schema):
    timeStamp = fields.DateTime(format="iso")
    errorCode = fields.Integer(required=True)
    msg = fields.String(required=True)


class BaseJobSchema(Schema):
    documentType = fields.String()
    jobType = fields.String()
    schemaVersion = fields.Float()
    cas = fields.Integer()
    createdAt = fields.DateTime(format="iso")
    updatedAt = fields.DateTime(format="iso")
    uuid = fields.String()
    logId = fields.String()
    queueName = fields.String()
    queueKwargs = fields.Dict()
    queueJobId = fields.Integer()
    events = fields.List(fields.Nested(EventSchema))
    errors = fields.List(fields.Nested(ErrorSchema))
    warnings = fields.List(fields.Nested(EventSchema))
    running = fields.Boolean()
    errorCount = fields.Integer()
    completeness = fields.Float()
    tickcount = fields.Float()
    tickval = fields.Float()
    resultCode = fields.Integer()


def schema_with(own: dict[str, fields.Field]) -> Schema:
    """The schema of a job class that declares `own` fields on top of the base ones."""
    return BaseJobSchema.from_dict(own)()


def load(doc: dict[str, Any], own: dict[str, fields.Field]) -> dict[str, Any]:
    """What an original process reads from `doc`; raises ValidationError where it refuses it."""
    return schema_with(own).load(doc)  # type: ignore[no-any-return]


def save(loaded: dict[str, Any], own: dict[str, fields.Field], cas: int, **changes: Any) -> dict[str, Any]:
    """The document an original process writes back after loading `loaded` and changing it."""
    values = {**loaded, **changes, "updatedAt": datetime.datetime.now(datetime.UTC).replace(tzinfo=None)}
    values["cas"] = cas
    values.pop("queueName", None)
    return schema_with(own).dump(values)  # type: ignore[no-any-return]


def new_document(uuid: str, job_type: str, own_values: dict[str, Any]) -> dict[str, Any]:
    """A new job's document as the original's `BaseJob.__init__` and `dump()` make it."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    values = {
        "documentType": "zerog_job",
        "jobType": job_type,
        "schemaVersion": "1.0",
        "createdAt": now,
        "updatedAt": now,
        "cas": 0,
        "uuid": uuid,
        "logId": f"{job_type}_{uuid}",
        "queueKwargs": {},
        "queueJobId": 0,
        "events": [],
        "errors": [],
        "warnings": [],
        "running": False,
        "errorCount": 0,
        "completeness": 0,
        "tickcount": 0.0,
        "tickval": 0.001,
        "resultCode": -1,
        **own_values,
    }
    own = {name: fields.Raw() for name in own_values}
    return schema_with(own).dump(values)  # type: ignore[no-any-return]
