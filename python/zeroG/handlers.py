"""The REST handlers: Tornado request handlers over the store and queue.

The five the original zeroG had (RunJobHandler, ProgressHandler, InfoHandler, GetDataHandler,
DumpHandler) keep their URLs and payloads, so applications that mount them with ``JOB_TYPE_PATT``
and ``UUID_PATT`` work unchanged. The rest (listing, cancel, watch, queues, health, metrics,
OpenAPI) are new. ``zeroG.server.default_routes()`` mounts them all.

Every store and queue call is awaited (the native calls run on Rust's thread pool), so a slow
datastore never holds up other requests. Every error is JSON, ``{"error": "...", ...}``, with the
status that says what was wrong; bad input never reaches a 500 and never leaves a half-made job.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import uuid as uuid_module
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.web
from tornado.iostream import StreamClosedError

from zeroG import config, registry
from zeroG.errors import (
    BackendError,
    CorruptDocument,
    DocumentExists,
    DocumentNotFound,
    InvalidJobValues,
    UnknownJobType,
)
from zeroG.jobs import (
    _BASE_DECLARED,
    BaseJob,
    build_job,
    cancel_async,
    document_progress,
    make_base_job,
    make_key,
)

__all__ = [
    "JOB_TYPE_PATT",
    "UUID_PATT",
    "BaseHandler",
    "CancelHandler",
    "DumpHandler",
    "GetDataHandler",
    "HealthHandler",
    "InfoHandler",
    "JobsHandler",
    "MetricsHandler",
    "NotFoundHandler",
    "OpenApiHandler",
    "ProgressHandler",
    "QueuesHandler",
    "RunJobHandler",
    "WatchHandler",
]

JOB_TYPE_PATT = "(?P<jobtype>[^/]+)"
UUID_PATT = "(?P<uuid>[^/]+)"

#: Request bodies larger than this get 413 (the ``max_body_size`` application setting).
DEFAULT_MAX_BODY = 1 << 20

log = logging.getLogger("zeroG.server")


class ApiError(tornado.web.HTTPError):
    """An error answered as ``{"error": message, **extra}`` with ``status``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(status, reason=None)
        self.message = message
        self.extra = extra


@tornado.web.stream_request_body
class BaseHandler(tornado.web.RequestHandler):
    """JSON responses and errors, CORS, bearer-token auth, and a body size limit.

    Bodies are streamed in so that one over the limit is refused with a JSON 413 as soon as
    its size is known, instead of being read whole first; ``self.request.body`` is filled in
    as it arrives, so subclasses read it as usual.
    """

    #: Whether the API token (if one is set) is needed: /health answers without it.
    auth_required = True

    def initialize(self) -> None:
        self._body = bytearray()
        self._too_big = False

    # -- headers, auth, body --------------------------------------------------------------

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        origins = self.settings.get("cors_origins", "*")
        if not origins:
            return
        if origins == "*":
            self.set_header("Access-Control-Allow-Origin", "*")
        else:
            origin = self.request.headers.get("Origin")
            if origin is not None and origin in origins:
                self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Vary", "Origin")
        self.set_header("Access-Control-Allow-Headers", "authorization, content-type, x-requested-with")
        self.set_header("Access-Control-Allow-Methods", "GET,POST,PUT,DELETE,OPTIONS")

    def prepare(self) -> None:
        limit = int(self.settings.get("max_body_size", DEFAULT_MAX_BODY))
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"request body is {declared} bytes; the limit is {limit}")
        # A chunked body has no declared size: data_received counts it and keeps no more than
        # the limit, and json_object() answers 413. Tornado's own cap (which answers a bare 400)
        # is set well above ours, so ours is the one clients meet.
        self.request.connection.set_max_body_size(2 * limit + 65536)  # type: ignore[union-attr]
        if self.request.method == "OPTIONS" or not self.auth_required:
            return
        token = self.settings.get("api_token")
        if token:
            scheme, _, given = self.request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                raise ApiError(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    def data_received(self, chunk: bytes) -> None:
        # An exception here would drop the connection without an answer, so an oversized body
        # is only noted (and not kept); the handler answers 413 when it reads the body.
        if self._too_big:
            return
        if len(self._body) + len(chunk) > int(self.settings.get("max_body_size", DEFAULT_MAX_BODY)):
            self._too_big = True
            self._body.clear()
            return
        self._body += chunk
        self.request.body = bytes(self._body)

    def options(self, *args: Any, **kwargs: Any) -> None:
        """CORS preflight: 204, no body."""
        self.set_status(204)
        self.finish()

    # -- writing ----------------------------------------------------------------------------

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        # allow_nan=False: NaN is not JSON, and a client's parser would choke on it.
        self.finish(json.dumps(payload, allow_nan=False) + "\n")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            body = {"error": exc.message, **exc.extra}
        elif isinstance(exc, BackendError):
            # The store or queue is down (the message names which, and where): not this
            # server's fault, and worth asking again later.
            self.set_status(503)
            body = {"error": f"service unavailable: {exc}"}
        elif isinstance(exc, tornado.web.HTTPError):
            body = {"error": exc.log_message or self._reason}
        else:
            # Logged with its traceback by Tornado; the client gets no internals.
            body = {"error": "internal error", "errorType": type(exc).__name__ if exc else None}
        if status_code == 401:  # set here: sending an error clears the headers set before
            self.set_header("WWW-Authenticate", 'Bearer realm="zeroG"')
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body) + "\n")

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, BackendError):  # a dead store or queue: one line, not a traceback
            log.warning("%s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)

    # -- reading ----------------------------------------------------------------------------

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 400 naming what is wrong otherwise. An empty body is ``{}``."""
        if self._too_big:
            limit = int(self.settings.get("max_body_size", DEFAULT_MAX_BODY))
            raise ApiError(413, f"request body is over the limit of {limit} bytes")
        raw = bytes(self._body)
        if not raw.strip():
            return {}
        try:
            # Decoded here: given bytes, json would guess UTF-16 or UTF-32 from the first ones.
            value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except UnicodeDecodeError as e:
            raise ApiError(400, f"request body is not UTF-8: {e}") from None
        except json.JSONDecodeError as e:
            raise ApiError(400, f"request body is not valid JSON: {e}") from None
        except RecursionError:
            raise ApiError(400, "request body is nested too deeply") from None
        if not isinstance(value, dict):
            raise ApiError(400, f"request body must be a JSON object, not {_json_kind(value)}")
        return value

    async def load_job(self, uuid: str) -> BaseJob:
        """The job with this uuid: 400 if it is not a uuid, 404 if there is none, 422 if its
        document cannot be read as a job."""
        return self.job_from(uuid, *await self.load_document(uuid))

    def job_from(self, uuid: str, doc: dict[str, Any], cas: int) -> BaseJob:
        try:
            return build_job(doc, cas)
        except UnknownJobType as e:
            raise ApiError(422, f"job {uuid} has a type this server does not know: {e}") from None
        except (ValueError, TypeError) as e:  # a marshmallow ValidationError is a ValueError
            raise ApiError(422, f"job {uuid}: its document is not a valid job: {e}") from None

    async def load_document(self, uuid: str) -> tuple[dict[str, Any], int]:
        check_uuid(uuid)
        try:
            found = await config.get_store().get_async(make_key(uuid))
        except CorruptDocument as e:
            raise ApiError(422, str(e)) from None
        if found is None:
            raise ApiError(404, f"Could not find job {uuid}")
        return found


def check_uuid(uuid: str) -> None:
    try:
        uuid_module.UUID(uuid)
    except ValueError:
        raise ApiError(400, f"{uuid!r} is not a uuid") from None


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which are not JSON and which no store can keep.
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


class NotFoundHandler(BaseHandler):
    """Any URL no route matches: a JSON 404 instead of Tornado's HTML page."""

    def prepare(self) -> None:
        super().prepare()
        raise ApiError(404, f"no route for {self.request.method} {self.request.path}")


# -- the original's handlers ------------------------------------------------------------------


class RunJobHandler(BaseHandler):
    """``POST /job/{type}`` with the job's fields as a JSON object: 201 ``{"uuid": ...}``."""

    def derive_job_type(self, *args: str, **kwargs: str) -> str | None:
        """The job type: the URL's ``jobtype`` group, else its first group. Override it to map
        URLs to job types some other way."""
        return kwargs.get("jobtype") or (args[0] if args else None)

    async def post(self, *args: str, **kwargs: str) -> None:
        values = self.json_object()
        job_type = self.derive_job_type(*args, **kwargs) or values.get("jobType")
        if not job_type:
            raise ApiError(400, "Could not extract jobType from request")
        if values.get("jobType", job_type) != job_type:
            raise ApiError(400, f"jobType {values['jobType']!r} in the body differs from {job_type!r} in the URL")
        # zeroG's bookkeeping fields are zeroG's: a request may only choose the uuid.
        reserved = sorted(k for k in values if k in _BASE_DECLARED and k not in ("uuid", "jobType"))
        if reserved:
            raise ApiError(400, "invalid job values", fields={k: ["Set by zeroG, not by a request."] for k in reserved})
        if "uuid" in values:
            check_uuid(str(values["uuid"]))
        cls = self._job_class(job_type)
        try:
            job = make_base_job(values, job_type=cls.JOB_TYPE)
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
            raise ApiError(404, f"unknown job type {job_type!r}", known=known)
        return cls


class UuidHandler(BaseHandler):
    """A GET on one job: the uuid from the URL's ``uuid`` group, its first group, or ``?uuid=``."""

    async def get(self, *args: str, **kwargs: str) -> None:
        uuid = kwargs.get("uuid") or (args[0] if args else None) or self.get_query_argument("uuid", None)
        if not uuid:
            raise ApiError(400, f"{type(self).__name__}.get needs 'uuid' argument")
        doc, cas = await self.load_document(uuid)
        self.write_json(self.payload_of(uuid, doc, cas))

    def payload_of(self, uuid: str, doc: dict[str, Any], cas: int) -> Any:
        return self.payload(self.job_from(uuid, doc, cas))

    def payload(self, job: BaseJob) -> Any:
        raise NotImplementedError


def _keeps(doc: dict[str, Any], *methods: str) -> bool:
    """Whether the document's job class answers ``methods`` as BaseJob does, so the answer can
    be read off the document without building the job (its schema load is most of the cost of
    the busiest route)."""
    cls = registry.find_class(doc.get("jobType") or "")
    return cls is not None and all(getattr(cls, m) is getattr(BaseJob, m) for m in methods)


class ProgressHandler(UuidHandler):
    """``{"completeness", "result"}``; result is -1 until the job finishes."""

    def payload_of(self, uuid: str, doc: dict[str, Any], cas: int) -> Any:
        return document_progress(doc) if _keeps(doc, "progress") else super().payload_of(uuid, doc, cas)

    def payload(self, job: BaseJob) -> Any:
        return job.progress()


class InfoHandler(UuidHandler):
    """Progress plus the events, errors and warnings."""

    def payload_of(self, uuid: str, doc: dict[str, Any], cas: int) -> Any:
        if not _keeps(doc, "info", "progress"):
            return super().payload_of(uuid, doc, cas)
        logs = {name: list(doc.get(name) or []) for name in ("events", "errors", "warnings")}
        return {**document_progress(doc), **logs}

    def payload(self, job: BaseJob) -> Any:
        return job.info()


class GetDataHandler(UuidHandler):
    """Whatever the job's ``get_data()`` returns."""

    def payload(self, job: BaseJob) -> Any:
        return job.get_data()


class DumpHandler(UuidHandler):
    """The whole document; the log lists only with ``?showLogs`` other than false."""

    def payload(self, job: BaseJob) -> Any:
        doc = job.dump()
        if self.get_query_argument("showLogs", "false") in ("false", "False"):
            for name in ("events", "warnings", "errors"):
                doc.pop(name, None)
        return doc


# -- beyond the original ----------------------------------------------------------------------


class JobsHandler(BaseHandler):
    """``GET /jobs?status=&type=&limit=&cursor=``: a page of documents, oldest first, and the
    cursor of the next page (null on the last)."""

    async def get(self) -> None:
        status = self.get_query_argument("status", None) or None
        job_type = self.get_query_argument("type", None) or None
        cursor = self.get_query_argument("cursor", None) or None
        raw_limit = self.get_query_argument("limit", "100")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            raise ApiError(400, f"limit must be a whole number from 1 to 1000, not {raw_limit!r}")
        try:
            docs, next_cursor = await config.get_store().list_async(status, job_type, int(raw_limit), cursor)
        except ValueError as e:  # an unknown status, or a cursor this store never gave
            raise ApiError(400, str(e)) from None
        self.write_json({"jobs": docs, "next": next_cursor})


class CancelHandler(BaseHandler):
    """``POST /cancel/{uuid}``: asks the job to stop. A queued job never starts; a running one
    stops at its next progress report or lease renewal. ``{"uuid", "status"}``."""

    async def post(self, uuid: str) -> None:
        check_uuid(uuid)
        try:
            status = await cancel_async(uuid)
        except DocumentNotFound:
            raise ApiError(404, f"Could not find job {uuid}") from None
        self.write_json({"uuid": uuid, "status": status})


class WatchHandler(BaseHandler):
    """``GET /watch/{uuid}``: Server-Sent Events for every change until the job ends.

    Events: ``progress`` (completeness, result, status) whenever one of them changes, ``event``,
    ``warning`` and ``error`` for each new log entry, and ``end`` when the job is finished (or
    ``gone`` if its document is deleted); then the stream closes. The server reads the document
    every ``watch_interval`` seconds (0.25 by default) and sends only what changed, so the
    client never polls; a comment line every 15 s keeps idle connections open through proxies.
    """

    async def get(self, uuid: str) -> None:
        from zeroG.watch import changes

        doc, cas = await self.load_document(uuid)
        self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx: pass events on at once
        interval = float(self.settings.get("watch_interval", 0.25))
        # A client that goes away is noticed at once (on_connection_close cancels the loop),
        # not at the next write, which for a quiet job is up to 15 s later.
        self._watching = asyncio.current_task()
        try:
            async for chunk in changes(config.get_store(), make_key(uuid), doc, cas, interval):
                self.write(chunk)
                await self.flush()
        except (StreamClosedError, asyncio.CancelledError):
            return  # the client went away
        self.finish()

    def on_connection_close(self) -> None:
        task = getattr(self, "_watching", None)
        if task is not None:
            task.cancel()


class QueuesHandler(BaseHandler):
    """``GET /queues``: ready, reserved, delayed and buried counts per tube."""

    async def get(self) -> None:
        queue = config.get_queue()
        tubes = sorted(await queue.list_tubes_async())
        stats = await asyncio.gather(*(queue.stats_tube_async(t) for t in tubes))
        self.write_json({"tubes": {s.pop("name"): s for s in stats}})


class HealthHandler(BaseHandler):
    """``GET /health``: 200 if the store and the queue answer, else 503 naming which did not.
    Needs no token, so a load balancer can ask."""

    auth_required = False

    async def get(self) -> None:
        checks: dict[str, Callable[[], Awaitable[object]]] = {
            "store": lambda: config.get_store().get_async(make_key("00000000-0000-0000-0000-000000000000")),
            "queue": lambda: config.get_queue().list_tubes_async(),
        }
        report: dict[str, str] = {}
        for name, call in checks.items():
            try:
                await asyncio.wait_for(call(), timeout=float(self.settings.get("health_timeout", 5)))
                report[name] = "ok"
            except Exception as e:  # any failure is the answer, not an error of this handler
                report[name] = f"error: {type(e).__name__}: {e}"
        ok = all(v == "ok" for v in report.values())
        self.write_json({"status": "ok" if ok else "unavailable", **report}, 200 if ok else 503)


class MetricsHandler(BaseHandler):
    """``GET /metrics``: Prometheus text. Jobs by status, queue depths by tube and state, and
    a histogram of run durations of the jobs that finished since this server started."""

    async def get(self) -> None:
        from zeroG.metrics import SETTLE_SECONDS, render

        settle = float(self.settings.get("metrics_settle", SETTLE_SECONDS))
        text = await render(self.application, config.get_store(), config.get_queue(), settle)
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(text)


class OpenApiHandler(BaseHandler):
    """``GET /openapi.json``: the OpenAPI document of every route and job type."""

    def get(self) -> None:
        from zeroG.openapi import openapi_document

        classes = getattr(self.application, "job_classes", None) or registry.registered()
        self.write_json(openapi_document(classes, auth=bool(self.settings.get("api_token"))))
