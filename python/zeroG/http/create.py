"""``POST /job/{type}``: making and enqueueing a job (the original zeroG's RunJobHandler), and
its OpenAPI description, one path per job type with the body that type's schema accepts."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from marshmallow import fields

from zeroG import registry
from zeroG.errors import BackendError, DocumentExists, InvalidJobValues
from zeroG.http.base import ApiError, BaseHandler, check_uuid
from zeroG.http.field_schema import object_schema
from zeroG.http.openapi_parts import JsonSchema, json_response, openapi_path, operation, ref, response_ref
from zeroG.jobs import BaseJob, BaseJobSchema, new_job

__all__ = ["RunJobHandler"]

log = logging.getLogger("zeroG.server")

# zeroG's bookkeeping fields: zeroG writes them, a request does not.
_BASE_FIELDS: Mapping[str, fields.Field] = BaseJobSchema().fields


class RunJobHandler(BaseHandler):
    """``POST /job/{type}`` with the job's fields as a JSON object: 201 ``{"uuid": ...}``."""

    def derive_job_type(self, data: dict[str, Any], *args: str, **kwargs: str) -> str | None:
        """The job type: the URL's ``jobtype`` group, else its first group, else the body's
        ``jobType``. ``data`` is the request's JSON object. Override it to map requests to job
        types some other way (the original zeroG's signature)."""
        found = kwargs.get("jobtype") or (args[0] if args else None) or data.get("jobType")
        return found if isinstance(found, str) else None

    async def post(self, *args: str, **kwargs: str) -> None:
        values = self.json_object()
        job_type = self.derive_job_type(values, *args, **kwargs)
        if not job_type:
            raise ApiError(400, "Could not extract jobType from request")
        if values.get("jobType", job_type) != job_type:
            raise ApiError(400, f"jobType {values['jobType']!r} in the body differs from {job_type!r} in the URL")
        # zeroG's bookkeeping fields are zeroG's: a request may only choose the uuid.
        reserved = sorted(k for k in values if k in _BASE_FIELDS and k not in ("uuid", "jobType"))
        if reserved:
            raise ApiError(400, "invalid job values", fields={k: ["Set by zeroG, not by a request."] for k in reserved})
        if "uuid" in values:
            values["uuid"] = check_uuid(str(values["uuid"]))
        cls = self._job_class(job_type)
        try:
            job = new_job(cls, values)  # the class this server creates for the type
        except InvalidJobValues as e:
            raise ApiError(400, "invalid job values", fields=e.messages) from None
        try:
            await job.enqueue_async()
        except DocumentExists:
            raise ApiError(409, f"job {job.uuid} exists already") from None
        except BackendError as e:  # nothing was left behind: enqueue_async undoes a half-made job
            raise ApiError(503, f"job not created: {e}") from None
        except ValueError as e:  # values the schema let through but a document cannot hold
            raise ApiError(400, f"invalid job values: {e}") from None
        log.info("created %s job %s", job_type, job.uuid)
        self.write_json({"uuid": job.uuid}, 201)

    def _job_class(self, job_type: str) -> type[BaseJob]:
        allowed = getattr(self.application, "job_classes", None)
        cls = allowed.get(job_type) if allowed is not None else registry.find_class(job_type)
        if cls is None:
            known = sorted(allowed if allowed is not None else registry.registered())
            # 400, as the original answered: the request asks for what cannot be made.
            raise ApiError(400, f"unknown job type {job_type!r}", known=known)
        return cls

    @classmethod
    def openapi_paths(cls, pattern: str, job_classes: Mapping[str, type[BaseJob]]) -> dict[str, JsonSchema]:
        """One path per job type, each with that type's body."""
        paths: dict[str, JsonSchema] = {}
        for job_type in sorted(job_classes):
            # A job type is a path segment; anything not safe in one is percent-encoded.
            path = openapi_path(pattern).replace("{jobtype}", quote(job_type, safe=""))
            paths[path] = {"post": _create_operation(job_type, job_classes[job_type])}
        return paths


def _create_operation(job_type: str, cls: type[BaseJob]) -> JsonSchema:
    op = operation(
        f"create_{job_type}",
        f"Create and enqueue a {job_type} job",
        "jobs",
        {
            "201": json_response("The job is saved and queued.", ref("Created")),
            "400": response_ref("InvalidJob"),
            "413": response_ref("PayloadTooLarge"),
        },
        requestBody={"required": True, "content": {"application/json": {"schema": job_body_schema(cls)}}},
    )
    # Only the class's own docstring: an inherited one describes another job.
    doc = cls.__dict__.get("__doc__")
    if doc:
        op["description"] = inspect.cleandoc(doc)
    return op


def _own_fields(cls: type[BaseJob]) -> dict[str, fields.Field]:
    """The fields a client sends for a job of ``cls``: the ones its schema adds to the base
    bookkeeping fields (which zeroG writes itself). This is BaseJob._own_schema()'s rule, without
    its exception for schemas with hooks: that one is about validating, not about what is sent."""
    load_fields: dict[str, Any] = cls.SCHEMA().load_fields
    return {
        name: field
        for name, field in load_fields.items()
        if name not in _BASE_FIELDS or type(field) is not type(_BASE_FIELDS[name])
    }


def job_body_schema(cls: type[BaseJob]) -> JsonSchema:
    """The JSON Schema of ``POST /job/<type>``'s body for a job class."""
    out = object_schema(_own_fields(cls))
    out["title"] = cls.SCHEMA.__name__
    return out
