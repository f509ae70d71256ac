"""What every REST handler shares: JSON answers and errors, CORS, the checks that keep other web
pages out (the Origin of a state-changing request, the Host header on loopback), the bearer
token, the body size limit, HEAD, reading a job by uuid, and the hook through which a handler
describes its own operations for the OpenAPI document.

Every store and queue call is awaited (the native calls run on Rust's thread pool), so a slow
datastore never holds up other requests. Every error is JSON, ``{"error": "...", ...}``, with the
status that says what was wrong; bad input never reaches a 500 and never leaves a half-made job.
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import tornado.web

from zeroG import config
from zeroG.errors import BackendError, CorruptDocument, UnknownJobType
from zeroG.http.openapi_parts import JsonSchema, openapi_path
from zeroG.jobs import BaseJob, build_job, make_key, view_job

__all__ = ["DEFAULT_MAX_BODY", "ApiError", "BaseHandler", "NotFoundHandler", "check_uuid"]

#: Methods that change nothing: the only ones another web page's origin may send.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The methods a handler may have, in the order CORS lists them.
_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")

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

    #: This handler's operations in the OpenAPI document, by HTTP method (built with
    #: ``zeroG.http.openapi_parts``). A handler without any is left out of the document.
    OPENAPI: ClassVar[Mapping[str, JsonSchema]] = {}

    @classmethod
    def openapi_paths(cls, pattern: str, job_classes: Mapping[str, type[BaseJob]]) -> dict[str, JsonSchema]:
        """This handler's entries in the document's ``paths`` when it is mounted at ``pattern``.
        Copies: the document is changed after it is built (bearer auth adds to each operation)."""
        if not cls.OPENAPI:
            return {}
        return {openapi_path(pattern): copy.deepcopy(dict(cls.OPENAPI))}

    def initialize(self) -> None:
        self._body = bytearray()
        self._too_big = False

    # -- headers, auth, body --------------------------------------------------------------

    @classmethod
    def methods(cls) -> list[str]:
        """The HTTP methods this handler answers (HEAD wherever GET is), OPTIONS last."""
        own = [m for m in _METHODS if getattr(cls, m.lower()) is not getattr(tornado.web.RequestHandler, m.lower())]
        if "GET" not in own and "HEAD" in own:
            own.remove("HEAD")
        return [*own, "OPTIONS"]

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        origins = self.settings.get("cors_origins")
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
        self.set_header("Access-Control-Allow-Methods", ",".join(self.methods()))

    def check_host(self) -> None:
        """On loopback, the Host header must name loopback (or an allowed name): a page on a DNS
        name that an attacker points at 127.0.0.1 does not get in."""
        allowed = self.settings.get("loopback_hosts")
        if allowed is None:
            return
        host = self.request.host_name
        if host not in allowed and not host.endswith(".localhost"):
            raise ApiError(
                403,
                f"Host {host!r} is not a name this server answers to while it listens on loopback "
                "(add it with --allow-host, allowed_hosts=[...])",
            )

    def check_origin(self) -> None:
        """A request that changes something, sent by a web page, must come from this server's
        own origin or one allowed with ``cors_origins``: CORS headers only stop a page reading
        the answer, not the request doing its work."""
        if self.request.method in SAFE_METHODS:
            return
        origin = self.request.headers.get("Origin")
        if origin is None:  # not sent by a browser on behalf of a page (curl, another server)
            return
        origins = self.settings.get("cors_origins")
        if origins == "*" or (origins and origin in origins):
            return
        if origin == f"{self.request.protocol}://{self.request.host}":
            return
        raise ApiError(
            403,
            f"{self.request.method} from the web origin {origin!r} is refused: only this server's own pages "
            "and the origins allowed with --cors (ZEROG_CORS_ORIGINS) may change jobs",
        )

    def prepare(self) -> None:
        self.check_host()
        self.check_origin()
        limit = int(self.settings.get("max_body_size", DEFAULT_MAX_BODY))
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"request body is {declared} bytes; the limit is {limit}")
        # A chunked body has no declared size: data_received counts it and keeps no more than
        # the limit, and json_object() answers 413. Tornado's own cap answers a bare 400 and
        # drops the connection, so for a chunked body it is lifted (the body timeout still
        # bounds how long a client may go on sending); for a declared size it only has to be
        # above ours.
        chunked = "chunked" in self.request.headers.get("Transfer-Encoding", "").lower()
        self.request.connection.set_max_body_size(1 << 62 if chunked else 2 * limit + 65536)  # type: ignore[union-attr]
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

    async def head(self, *args: Any, **kwargs: Any) -> None:
        """GET's headers without its body (Tornado writes none for HEAD); 405 where there is no
        GET."""
        if "GET" not in self.methods():
            raise tornado.web.HTTPError(405)
        answered = self.get(*args, **kwargs)
        if answered is not None:  # an async get
            await answered

    # -- writing ----------------------------------------------------------------------------

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(_ENCODER.encode(payload) + "\n")

    def complete(self, statusCode: int, **kwargs: Any) -> None:
        """The original zeroG's way to answer: ``output`` (text, sent as JSON), or ``file`` (bytes,
        with ``fileName`` as the attachment's name), after ``errMsg`` if given (also logged)."""
        if kwargs.get("errMsg"):
            log.warning("%s", kwargs["errMsg"])
            self.write(f"{kwargs['errMsg']}\n")
        if "file" in kwargs:
            self.set_header("Content-Type", "application/octet-stream")
            if "fileName" in kwargs:
                name = str(kwargs["fileName"]).replace('"', "")
                self.set_header("Content-Disposition", f'attachment; filename="{name}"')
            self.write(kwargs["file"])
        elif "output" in kwargs:
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.write(f"{kwargs['output']}\n")
        self.set_status(statusCode)
        self.finish()

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
            value = _DECODER.decode(raw.decode("utf-8"))
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
        """The job with this uuid: 404 if there is none (or it is not a uuid), 422 if its
        document cannot be read as a job."""
        return self.job_from(uuid, *await self.load_document(uuid))

    def job_from(self, uuid: str, doc: dict[str, Any], cas: int, *, needs_class: bool = False) -> BaseJob:
        """The job object; without its class here, a view that reads like it (``view_job``),
        unless the answer ``needs_class`` (then 422)."""
        try:
            return build_job(doc, cas) if needs_class else view_job(doc, cas)
        except UnknownJobType as e:
            raise ApiError(422, f"job {uuid} has a type this server does not know: {e}") from None
        except (ValueError, TypeError) as e:  # a marshmallow ValidationError is a ValueError
            raise ApiError(422, f"job {uuid}: its document is not a valid job: {e}") from None

    async def load_document(self, uuid: str) -> tuple[dict[str, Any], int]:
        uuid = check_uuid(uuid, in_path=True)
        try:
            found = await config.get_store().get_async(make_key(uuid))
        except CorruptDocument as e:
            raise ApiError(422, str(e)) from None
        if found is None:
            raise ApiError(404, f"Could not find job {uuid}")
        return found


#: A uuid in its one accepted form: 32 hex digits in groups of 8-4-4-4-12 (either case). The
#: forms uuid.UUID also reads (no dashes, braces, ``urn:uuid:``, surrounding whitespace) would let
#: one job exist under several keys.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def check_uuid(uuid: str, *, in_path: bool = False) -> str:
    """The uuid in its canonical form (lower case); for anything else 400, or, for the uuid in a
    URL, 404: no job has that id (the original zeroG's answer to any id it could not find)."""
    if not _UUID.fullmatch(uuid):
        form = "is not a uuid (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits)"
        if in_path:
            raise ApiError(404, f"Could not find job {uuid!r}: it {form}")
        raise ApiError(400, f"{uuid!r} {form}")
    return uuid.lower()


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which are not JSON and which no store can keep.
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


# One decoder for every body and one encoder for every answer: json.loads and json.dumps given
# an option make a new one per call (json.loads of "{}": 1.7 us, against 0.5 us with this
# decoder; json.dumps of {"uuid": ...}: 1.9 us, against 1.2 us with this encoder).
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
# allow_nan=False: NaN is not JSON, and a client's parser would choke on it.
_ENCODER = json.JSONEncoder(allow_nan=False)


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


class NotFoundHandler(BaseHandler):
    """Any URL no route matches: a JSON 404 instead of Tornado's HTML page."""

    def prepare(self) -> None:
        super().prepare()
        raise ApiError(404, f"no route for {self.request.method} {self.request.path}")
