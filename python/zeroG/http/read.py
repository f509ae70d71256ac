"""The original zeroG's reads of one job: ``GET /progress/{uuid}``, ``/info/{uuid}``,
``/data/{uuid}`` and ``/dump/{uuid}``, with the payloads the original gave."""

from __future__ import annotations

from typing import Any

from zeroG import registry
from zeroG.http.base import ApiError, BaseHandler, check_uuid
from zeroG.http.openapi_parts import job_operation, json_response, query, ref
from zeroG.jobs import BaseJob, document_progress

__all__ = ["DumpHandler", "GetDataHandler", "InfoHandler", "ProgressHandler", "UuidHandler"]


class UuidHandler(BaseHandler):
    """A GET on one job: the uuid from the URL's ``uuid`` group, its first group, or ``?uuid=``."""

    async def get(self, *args: str, **kwargs: str) -> None:
        uuid = kwargs.get("uuid") or (args[0] if args else None) or self.get_query_argument("uuid", None)
        if not uuid:
            raise ApiError(400, f"{type(self).__name__}.get needs 'uuid' argument")
        uuid = check_uuid(uuid, in_path=True)
        doc, cas = await self.load_document(uuid)
        self.write_json(self.payload_of(uuid, doc, cas))

    def payload_of(self, uuid: str, doc: dict[str, Any], cas: int) -> Any:
        return self.payload(self.job_from(uuid, doc, cas))

    def payload(self, job: BaseJob) -> Any:
        raise NotImplementedError


def _keeps(doc: dict[str, Any], *methods: str) -> bool:
    """Whether the document's job class answers ``methods`` as BaseJob does (or this server has
    no class for it, and any job's answer is read off its document), so the answer can be read
    off the document without building the job (its schema load is most of the cost of the
    busiest route)."""
    job_type = doc.get("jobType")
    if not isinstance(job_type, str):
        return False  # not a job: building it says why (422)
    cls = registry.find_class(job_type)
    return cls is None or all(getattr(cls, m) is getattr(BaseJob, m) for m in methods)


class ProgressHandler(UuidHandler):
    """``{"completeness", "result"}``; result is -1 until the job finishes."""

    OPENAPI = job_operation(
        "get", "getProgress", "A job's completeness and result", json_response("The job's progress.", ref("Progress"))
    )

    def payload_of(self, uuid: str, doc: dict[str, Any], cas: int) -> Any:
        return document_progress(doc) if _keeps(doc, "progress") else super().payload_of(uuid, doc, cas)

    def payload(self, job: BaseJob) -> Any:
        return job.progress()


class InfoHandler(UuidHandler):
    """Progress plus the events, errors and warnings."""

    OPENAPI = job_operation(
        "get",
        "getInfo",
        "A job's progress and its events, errors and warnings",
        json_response("The job's progress and logs.", ref("Info")),
    )

    def payload_of(self, uuid: str, doc: dict[str, Any], cas: int) -> Any:
        if not _keeps(doc, "info", "progress"):
            return super().payload_of(uuid, doc, cas)
        logs = {name: list(doc.get(name) or []) for name in ("events", "errors", "warnings")}
        return {**document_progress(doc), **logs}

    def payload(self, job: BaseJob) -> Any:
        return job.info()


class GetDataHandler(UuidHandler):
    """Whatever the job's ``get_data()`` returns."""

    OPENAPI = job_operation(
        "get", "getData", "A job's result data", json_response("What the job's get_data() returns.", ref("JobData"))
    )

    def payload_of(self, uuid: str, doc: dict[str, Any], cas: int) -> Any:
        # get_data() is the job class's own: without the class there is no answer (422).
        return self.payload(self.job_from(uuid, doc, cas, needs_class=True))

    def payload(self, job: BaseJob) -> Any:
        return job.get_data()


class DumpHandler(UuidHandler):
    """The whole document; the log lists only with ``?showLogs`` other than false."""

    OPENAPI = job_operation(
        "get",
        "dumpJob",
        "A job's whole document",
        json_response("The job's document.", ref("JobDocument")),
        query("showLogs", {"type": "boolean"}, "Include the events, warnings and errors lists."),
    )

    def payload(self, job: BaseJob) -> Any:
        doc = job.dump()
        if self.get_query_argument("showLogs", "false") in ("false", "False"):
            for name in ("events", "warnings", "errors"):
                doc.pop(name, None)
        return doc
