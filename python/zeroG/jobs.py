"""Jobs: ``BaseJob`` (what job authors subclass), its schema, and the functions that make and
load jobs.

A job is a document in the store under ``zerog_job_<uuid>``; the job object is a view of it.
``save()`` writes the whole document with compare-and-swap, ``update_attrs()`` re-applies its
change to the fresh document when somebody else wrote first, and the log lists (events,
warnings, errors) are appended atomically, so no writer loses another's entries.
"""

from __future__ import annotations

import inspect
import json
import logging
import operator
import random
import time
from abc import ABC
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from zeroG import _zerog, config, job_log, registry
from zeroG.errors import (
    CANCELLED,
    INTERNAL_ERROR,
    NO_RESULT,
    CasMismatch,
    DocumentNotFound,
    ErrorContinue,
    ErrorFinish,
    InvalidJobValues,
    UnknownJobType,
    WarningContinue,
    WarningFinish,
    WFErrorContinue,
    WFErrorFinish,
)
from zeroG.timestamps import Timestamp, naive_utc

__all__ = [
    "DOCUMENT_TYPE",
    "FINAL_STATUSES",
    "INTERNAL_ERROR",
    "LogEntry",
    "NO_RESULT",
    "ErrorContinue",
    "ErrorFinish",
    "WarningContinue",
    "WarningFinish",
    "LOG_LISTS",
    "BaseJob",
    "BaseJobSchema",
    "cancel",
    "cancel_async",
    "document_finished",
    "document_log",
    "document_progress",
    "document_status",
    "get_base_job",
    "run_again",
    "run_again_async",
    "make_base_job",
    "new_job",
    "stored_job",
    "UnregisteredJob",
    "make_key",
]

DOCUMENT_TYPE = _zerog.DOCUMENT_TYPE
SCHEMA_VERSION = _zerog.SCHEMA_VERSION
#: How many times ``update_attrs`` re-reads and re-applies before giving up.
MAX_UPDATE_ATTEMPTS = 50
#: The statuses a job ends in.
FINAL_STATUSES = ("done", "failed", "cancelled")
#: A document's log lists, and what one entry of each is.
LOG_LISTS = {"events": "event", "warnings": "warning", "errors": "error"}

log = logging.getLogger("zeroG.job")


def make_key(uuid: str) -> str:
    """The store key of a job."""
    return _zerog.job_key(uuid)


def _now() -> str:
    # The engine's clock, in the form datetime.now(UTC).isoformat(timespec="microseconds") gives.
    return _zerog.now_iso()


class LogEntry(dict[str, Any]):
    """An entry of a job's ``events``, ``warnings`` or ``errors``: the dict that is stored
    (``{timeStamp, msg}``, and ``errorCode`` for an error), which the original zeroG's code can
    also read as its objects: ``entry.msg``, ``entry.errorCode``, ``entry.dump()``, and
    ``entry.timeStamp`` as a datetime (naive UTC, as the original's were)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"log entry has no {name!r}") from None
        if name == "timeStamp" and isinstance(value, str):
            stamp = naive_utc(value)
            return value if stamp is None else stamp
        return value

    def dump(self) -> dict[str, Any]:
        return dict(self)


# The base fields are defined once, by the engine (`zeroG._zerog.BASE_FIELDS`: name, type,
# nullable, given by the maker, default); the schema and the defaults below are made from it.
_FIELD_TYPES: dict[str, Callable[..., fields.Field]] = {
    "str": fields.String,
    "float": fields.Float,
    "int": fields.Integer,
    "bool": fields.Boolean,
    "dict": fields.Dict,
    "list": lambda **kw: fields.List(fields.Dict(), **kw),
}


def _schema_field(kind: str, nullable: bool) -> fields.Field:
    return _FIELD_TYPES[kind](allow_none=True) if nullable else _FIELD_TYPES[kind]()


if TYPE_CHECKING:  # type checkers see the class; its fields are made from the table below

    class BaseJobSchema(Schema): ...

else:
    BaseJobSchema = type(
        "BaseJobSchema",
        (Schema,),
        {
            "__doc__": "The fields every job document has. Subclass it to declare a job's own fields.",
            "__module__": __name__,
            **{name: _schema_field(kind, nullable) for name, kind, nullable, _, _ in _zerog.BASE_FIELDS},
        },
    )


_BASE_DECLARED = BaseJobSchema._declared_fields
_BASE_NAMES = tuple(_BASE_DECLARED)
# Reads every base field in one call (a job sets them all in __init__).
_base_values = operator.attrgetter(*_BASE_NAMES)

# The base fields a job does not give itself, and their defaults (the type of an empty list or
# dict, called for a fresh one each time).
_BASE_DEFAULTS: dict[str, Any] = {
    name: type(default) if isinstance(default, (list, dict)) else default
    for name, _, _, given, default in _zerog.BASE_FIELDS
    if not given
}

# The same, as (name, default, the type to call for a fresh list or dict, else None).
_DEFAULT_ITEMS = tuple(
    (name, default, default if callable(default) else None) for name, default in _BASE_DEFAULTS.items()
)


def _plain_fields(cls: type) -> bool:
    """Whether setting the base fields on ``cls``'s jobs only stores them in the instance's dict:
    no ``__setattr__`` of its own and no property (or other descriptor) under a base field's
    name. Then a new job's fields go into its dict at once. Worked out once per class."""
    plain = cls.__dict__.get("_plain_fields_cached")
    if plain is None:
        plain = cls.__setattr__ is object.__setattr__ and not any(
            hasattr(type(inspect.getattr_static(cls, name, None)), "__set__") for name in _BASE_DEFAULTS
        )
        cls._plain_fields_cached = plain  # type: ignore[attr-defined]
    return plain


class _Time:
    """A job's ``createdAt`` or ``updatedAt``: whatever it is set to (ISO text, or a datetime as
    the original's code set them), it reads as a Timestamp, the document's text that also acts
    as the datetime the original's code expects (see zeroG.timestamps).

    Only setting goes through here: with no ``__get__``, a read finds the value in the job's
    own ``__dict__`` (under the same name) as fast as any attribute, and a job's document reads
    these on every write."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __set__(self, job: Any, value: Any) -> None:
        job.__dict__[self.name] = Timestamp(value) if type(value) is str else Timestamp.of(value)


class BaseJob(ABC):
    """Subclass it: set JOB_TYPE, SCHEMA and QUEUE_NAME, read your fields in ``__init__`` after
    ``super().__init__(**kwargs)``, and implement ``run()``.

    ``run()`` returns ``(resume_at_epoch_seconds, requeue)``: with ``requeue=True`` the job runs
    again no earlier than ``resume_at``, keeping what it saved; otherwise it is done (resultCode
    200). The later zeroG form ``(resultCode, delay)`` also works: resultCode -1 means "run again
    after ``delay`` seconds". ``async def run()`` is supported.
    """

    DOCUMENT_TYPE: ClassVar[str] = DOCUMENT_TYPE
    SCHEMA_VERSION: ClassVar[float] = SCHEMA_VERSION
    JOB_TYPE: ClassVar[str] = "zerog_job"
    SCHEMA: ClassVar[type[Schema]] = BaseJobSchema
    QUEUE_NAME: ClassVar[str] = "zerog_jobs"
    #: Retries after a failed run; then the job fails and its queue entry is buried.
    MAX_RETRIES: ClassVar[int] = 3
    #: Seconds before the first retry, doubled on each retry after it.
    RETRY_DELAY: ClassVar[float] = 10
    #: The lease, in seconds: the worker renews it while run() executes; if the worker dies the
    #: job runs again elsewhere this long after its last renewal.
    TTR: ClassVar[int] = _zerog.DEFAULT_TTR
    #: Seconds a run may take; past it the run is failed (error 504) and retried.
    MAX_RUNTIME: ClassVar[float | None] = None
    #: beanstalkd priority: lower runs first.
    PRIORITY: ClassVar[int] = _zerog.DEFAULT_PRIORITY
    #: The original zeroG's error budget: set it and the job stops once it has recorded this
    #: many errors (``continue_running()``), so MAX_ERRORS=3 gives 3 failing runs. Unset, the
    #: budget is MAX_RETRIES.
    MAX_ERRORS: ClassVar[int | None] = None

    # Set to text or a datetime, read as a Timestamp (ISO text that acts as a datetime).
    createdAt: Any = _Time()
    updatedAt: Any = _Time()
    #: Whether this class (or one it comes from, BaseJob aside) declares a JOB_TYPE: if it does,
    #: its jobs are of that type, whatever values say (set for each class as it is made).
    _declares_job_type: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._declares_job_type = cls._declares_job_type or "JOB_TYPE" in cls.__dict__

    # The base document fields, set in __init__ (declared here for type checkers).
    cas: int
    queueJobId: int
    queueKwargs: dict[str, Any]
    completeness: float
    tickcount: float
    tickval: float
    resultCode: int
    events: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    errorCount: int
    running: bool
    status: str
    attempts: int
    retries: int
    buried: bool
    startedAt: str | None
    finishedAt: str | None
    heartbeatAt: str | None
    workerId: str | None
    cancelRequested: bool
    cancelRequestedAt: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The original zeroG built a job as ``cls(datastore, queue, keepalive, **fields)``, and
        # its job classes pass ``*args`` on: kept, so a keepalive given is called by
        # keep_alive(). zeroG's jobs use the configured store and queue.
        if args:
            if len(args) > 3:
                name = type(self).__name__
                raise TypeError(f"{name}() takes at most 3 positional arguments (datastore, queue, keepalive)")
            self._original_args = args
            self.datastore, self.queue, self.keepalive = (*args, None, None)[:3]
        now = _now()
        # As the original's did, a job keeps the documentType it was given, and the jobType too
        # unless its class declares its own (a class's jobs are of its type, whatever values say).
        self.documentType = kwargs.get("documentType") or self.DOCUMENT_TYPE
        self.jobType = self.JOB_TYPE if self._declares_job_type else kwargs.get("jobType") or self.JOB_TYPE
        self.schemaVersion = kwargs.get("schemaVersion", self.SCHEMA_VERSION)
        self.uuid: str = kwargs.get("uuid") or _zerog.new_uuid()
        self.logId: str = kwargs.get("logId") or _zerog.log_id(self.JOB_TYPE, self.uuid)
        # As _Time sets them, without its call (every job made or loaded passes here).
        created, updated = kwargs.get("createdAt") or now, kwargs.get("updatedAt") or now
        own = self.__dict__
        own["createdAt"] = Timestamp(created) if type(created) is str else Timestamp.of(created)
        own["updatedAt"] = Timestamp(updated) if type(updated) is str else Timestamp.of(updated)
        self.queueName: str = kwargs.get("queueName") or self.QUEUE_NAME
        given: Collection[str] = _BASE_DEFAULTS.keys() & kwargs.keys() if kwargs else ()
        if _plain_fields(type(self)):
            # Straight into the instance's dict (the same values setattr would store, in the same
            # order): a web handler makes a job per request, and the fields' setattr calls were
            # most of what making one cost.
            values = {name: make() if make else default for name, default, make in _DEFAULT_ITEMS}
            for name in given:
                if kwargs[name] is not None:
                    values[name] = kwargs[name]
            own.update(values)
        else:
            for name, default in _BASE_DEFAULTS.items():
                value = kwargs.get(name, None)
                if value is None and default is not None:
                    value = default() if callable(default) else default
                setattr(self, name, value)
            given = LOG_LISTS.keys()
        for name in LOG_LISTS.keys() & given:
            entries = getattr(self, name)
            if isinstance(entries, list):
                setattr(self, name, [LogEntry(e) if type(e) is dict else e for e in entries])
        self.cas = kwargs.get("cas", 0) or 0
        # Fields in the stored document that this class's schema does not know: kept and
        # written back untouched, so nobody else's fields are lost.
        self._extra: dict[str, Any] = {}

    # -- the job's work ------------------------------------------------------------------

    def run(self) -> Any:
        """Does the work: a job class defines it (see the class docstring for what to return).
        A class that does not is never registered, so no worker runs its jobs; a BaseJob built
        directly, as the geyser-era zeroG allowed, is a document with nothing to run."""
        raise NotImplementedError(f"{type(self).__name__} defines no run()")

    def get_data(self) -> dict[str, Any]:
        """Result data for watchers; override it. The default is ``{}``."""
        return {}

    # -- the document --------------------------------------------------------------------

    @classmethod
    def _schema(cls) -> Schema:
        # One schema instance per class: building one is far slower than using it.
        schema = cls.__dict__.get("_schema_instance")
        if schema is None:
            schema = cls.SCHEMA()
            cls._schema_instance = schema  # type: ignore[attr-defined]
        return schema

    @classmethod
    def _own_schema(cls) -> Schema | None:
        """A schema of only the fields this class adds to the base ones (None if it adds none).

        The base fields are written by zeroG itself, so a worker loading a job, or a producer
        saving one, passes them through as they are and validates only the job's own fields:
        marshmallow costs tens of microseconds per document, most of a small job's time. A
        schema with hooks (pre_load, post_dump, ...) may need every field, so it gets all.
        """
        if "_own_schema_instance" not in cls.__dict__:
            declared = cls.SCHEMA._declared_fields
            if cls.SCHEMA._hooks and any(cls.SCHEMA._hooks.values()):
                own = list(declared)
            else:
                own = [
                    name
                    for name, field in declared.items()
                    if name not in _BASE_DECLARED or type(field) is not type(_BASE_DECLARED[name])
                ]
            cls._own_schema_instance = cls.SCHEMA(only=own) if own else None  # type: ignore[attr-defined]
        return cls.__dict__["_own_schema_instance"]  # type: ignore[no-any-return]

    def key(self) -> str:
        return make_key(self.uuid)

    def dump(self) -> dict[str, Any]:
        """The job's document as a dict, with its ``cas`` as the original's dump had it (the
        store keeps the CAS itself: it is not written into the document)."""
        doc = self._document()
        doc["cas"] = self.cas
        for name, value in doc.items():
            # Copies, so that changing the dump never changes the job.
            if isinstance(value, list):
                doc[name] = [dict(v) if isinstance(v, dict) else v for v in value]
            elif isinstance(value, dict):
                doc[name] = dict(value)
        return doc

    def _document(self) -> dict[str, Any]:
        """The document to write. Unlike ``dump()`` it shares the job's lists and dicts: the
        store converts it at once and keeps nothing of it, so copying them is wasted work (most
        of a bulk enqueue's time in Python)."""
        doc = dict(self._extra)
        own = self._own_schema()
        if own is None:
            try:
                doc.update(zip(_BASE_NAMES, _base_values(self), strict=True))
                return doc
            except AttributeError:  # a subclass that skipped super().__init__(): the slow way
                pass
        for name in _BASE_NAMES:
            if own is None or name not in own.fields:
                doc[name] = getattr(self, name, None)
        if own is not None:
            doc.update(own.dump(self))
        return doc

    def _new_document(self) -> dict[str, Any] | tuple[tuple[str, ...], BaseJob]:
        """``_document()`` for the engine's enqueue of a new job. A job with no fields of its
        own and none unknown is handed over as ``(names, job)``: the engine reads the fields
        itself, as ``_document`` would, without the dict built first."""
        if not self._extra and self._own_schema() is None:
            return (_BASE_NAMES, self)
        return self._document()

    def dumps(self, **kwargs: Any) -> str:
        return json.dumps(self.dump(), **kwargs)

    def __str__(self) -> str:
        return self.dumps(indent=4)

    def progress(self) -> dict[str, Any]:
        """``{"completeness", "result"}``; result is -1 until the job finishes."""
        return {"completeness": self.completeness, "result": self.resultCode}

    def info(self) -> dict[str, Any]:
        """``progress()`` plus the events, errors and warnings lists."""
        return {
            **self.progress(),
            "events": list(self.events),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }

    def save(self) -> None:
        """Writes the whole document. A job never saved is created; otherwise the write succeeds
        only if nobody changed the document since this object read it (else CasMismatch)."""
        self.updatedAt = _now()
        store = config.get_store()
        if self.cas == 0:
            self.cas = store.insert(self.key(), self._document())
        else:
            self.cas = store.replace(self.key(), self._document(), self.cas)

    def reload(self) -> None:
        """Re-reads the document; DocumentNotFound if it is gone."""
        found = config.get_store().get(self.key())
        if found is None:
            raise DocumentNotFound(f"document {self.key()} does not exist")
        self._take(*found)

    def _take(self, doc: dict[str, Any], cas: int) -> None:
        """Becomes the view of ``doc`` as stored with ``cas``."""
        values, extra = _load_document(type(self), doc)
        self.__init__(*getattr(self, "_original_args", ()), **values, cas=cas)  # type: ignore[misc]
        self._extra = extra

    def update_attrs(self, **kwargs: Any) -> None:
        """Sets attributes and saves them. If another writer got there first, re-reads the
        document and applies the same change to it, so their changes are kept too."""

        def change() -> None:
            for name, value in kwargs.items():
                setattr(self, name, value)

        self._record_change(change, "update")

    def record_change(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """The original's: ``func(*args, **kwargs)`` changes this object, which is then saved;
        on a collision the document is re-read and ``func`` applied again. False (and an error
        in the log) if the collisions never stopped."""
        try:
            self._record_change(lambda: func(*args, **kwargs), "record_change")
        except CasMismatch as e:
            log.error("job %s: %s", self.uuid, e)
            return False
        return True

    def _record_change(self, change: Callable[[], None], what: str) -> None:
        """The original's record_change: apply ``change`` to this object and save; on a
        collision re-read the document and apply it again, so nobody's writes are lost."""
        for attempt in range(MAX_UPDATE_ATTEMPTS):
            change()
            try:
                self.save()
                return
            except CasMismatch:
                log.debug("job %s: collision on %s, reloading (attempt %d)", self.uuid, what, attempt + 1)
                time.sleep(random.random() / 200)
                self.reload()
        raise CasMismatch(f"document {self.key()}: gave up after {MAX_UPDATE_ATTEMPTS} collisions")

    # -- the queue -----------------------------------------------------------------------

    def enqueue(self, delay: float = 0, priority: int | None = None, ttr: int | None = None) -> int:
        """Saves the job if needed and puts it on its queue. Returns the queue job id.

        A job that had finished starts over: status queued, result -1, completeness 0. Nothing
        is left half-written: if the put fails, a new job's document is deleted again and a
        saved one's gets back what it said before.
        """
        saved = self.cas != 0
        try:
            request = self._enqueue_request(delay, priority, ttr)
            return self._enqueued(_zerog.enqueue(config.get_store(), config.get_queue(), request))
        except BaseException:
            self._after_failed_enqueue(saved)
            raise

    async def enqueue_async(self, delay: float = 0, priority: int | None = None, ttr: int | None = None) -> int:
        """``enqueue()`` for asyncio code, such as a Tornado handler: the store and queue calls
        run off the event loop, so it serves other requests meanwhile. The same engine call,
        with the same all-or-nothing rule."""
        saved = self.cas != 0
        try:
            request = self._enqueue_request(delay, priority, ttr)
            return self._enqueued(await _zerog.enqueue_async(config.get_store(), config.get_queue(), request))
        except BaseException:
            self._after_failed_enqueue(saved)
            raise

    def _queue_options(self, delay: float, priority: int | None, ttr: int | None) -> tuple[int, int, int]:
        """``(ttr, priority, delay)`` for a put: the class's TTR and PRIORITY unless given."""
        return (
            int(ttr if ttr is not None else self.TTR),
            int(priority if priority is not None else self.PRIORITY),
            int(max(0, delay)),
        )

    def _enqueue_request(
        self, delay: float, priority: int | None, ttr: int | None
    ) -> tuple[
        str, dict[str, Any] | tuple[tuple[str, ...], BaseJob], int, str, int, int, int, dict[str, Any], dict[str, Any]
    ]:
        """What the engine's enqueue takes (``zeroG._zerog.enqueue``), with the restart fields
        set on this object: the document as it is to be written, and for a saved job the
        fields that start it over and their values before."""
        ttr, priority, delay = self._queue_options(delay, priority, ttr)
        restart = _restart_fields(self, ttr, priority, delay)
        before = {name: getattr(self, name, None) for name in restart} if self.cas else {}
        for name, value in restart.items():
            setattr(self, name, value)
        return (
            self.uuid,
            self._new_document() if not self.cas else self._document(),
            self.cas,
            self.QUEUE_NAME,
            priority,
            delay,
            ttr,
            restart if self.cas else {},
            before,
        )

    def _enqueued(self, answer: tuple[int, int, str, dict[str, Any] | None]) -> int:
        """Takes what the engine's enqueue wrote: the document as stored if somebody else wrote
        it meanwhile (the worker that already took the job, say), else the id, CAS and time."""
        queue_job_id, cas, updated_at, stored = answer
        if stored is not None:
            self._take(stored, cas)
        else:
            self.queueJobId, self.cas, self.updatedAt = queue_job_id, cas, updated_at
        return queue_job_id

    def _after_failed_enqueue(self, saved: bool) -> None:
        """A saved job's document got its old fields back in the store: so does this object.
        A new job's document is gone, and this object stays unsaved."""
        if saved:
            try:
                self.reload()
            except Exception:  # noqa: BLE001 - the enqueue's error is the one to raise
                log.exception("job %s: could not re-read it after a failed enqueue", self.uuid)

    # -- reporting (the later zeroG's method forms) ----------------------------------------

    def _context(self) -> Any:
        return job_log.context_for(self)

    def set_completeness(self, completeness: float) -> None:
        """Sets completeness, clamped to 0..1."""
        ctx = self._context()
        if ctx is not None:
            value = ctx.set_completeness(float(completeness))
            if value is not None:
                self.completeness = value
            return
        clamped = min(1.0, max(0.0, float(completeness)))
        if clamped != completeness:
            log.warning("job %s: completeness %r out of range, clamped to %r", self.uuid, completeness, clamped)
        self.update_attrs(completeness=clamped)

    def add_to_completeness(self, delta: float) -> None:
        self.set_completeness(self.completeness + float(delta))

    def _record(self, list_name: str, msg: str, error_code: int | None = None) -> None:
        entry = LogEntry(timeStamp=_now(), msg=msg)
        if error_code is not None:
            entry = LogEntry(timeStamp=entry["timeStamp"], errorCode=error_code, msg=msg)

        def change() -> None:
            getattr(self, list_name).append(entry)
            if list_name == "errors":
                self.errorCount += 1

        ctx = self._context()
        if ctx is not None:
            # The worker stores it; this object shows it too, as the original's did (its own
            # continue_running() counts the errors of the run that is ending).
            ctx.log(list_name, msg, error_code)
            change()
            return

        if self.cas == 0:
            change()  # never saved: the entry goes in with the first save
            return
        # Through the CAS loop rather than an atomic append: taking the append's new CAS would
        # let this copy's next save() overwrite whatever another writer stored in between.
        self._record_change(change, list_name)

    def job_log_info(self, msg: Any) -> None:
        """Logs and stores an event."""
        log.info("[%s %s] %s", self.JOB_TYPE, self.uuid, msg)
        self._record("events", str(msg))

    def job_log_warning(self, msg: Any) -> None:
        """Logs and stores a warning."""
        log.warning("[%s %s] %s", self.JOB_TYPE, self.uuid, msg)
        self._record("warnings", str(msg))

    def job_log_error(self, errorCode: int, msg: Any) -> None:
        """Logs and stores an error with its code (counted in errorCount)."""
        log.error("[%s %s] %s: %s", self.JOB_TYPE, self.uuid, errorCode, msg)
        self._record("errors", str(msg), int(errorCode))

    @property
    def resultString(self) -> str:
        """The geyser-era zeroG's words on the result (``record_result(code, resultString)``);
        "" unless given. Stored in the document only once given."""
        return str(self._extra.get("resultString", ""))

    @resultString.setter
    def resultString(self, value: str) -> None:
        self._extra["resultString"] = value

    def record_result(self, resultCode: int, resultString: str = "") -> None:
        """Records the result; one that is not a failure also makes the job complete (1.0).
        ``resultString``, the geyser-era zeroG's, is stored with it when given."""
        if resultString:
            self.update_attrs(resultString=str(resultString))
        code = int(resultCode)
        done = {"completeness": 1.0} if _zerog.result_completes(code) else {}
        ctx = self._context()
        if ctx is not None:
            ctx.set_result(code)
            self.resultCode = code
            if done:
                self.completeness = 1.0
            return
        self.update_attrs(resultCode=code, **done)

    def raise_error_continue(self, errorCode: int, msg: Any) -> None:
        """Stores the error and ends this run; the job is retried within MAX_RETRIES."""
        self.job_log_error(errorCode, msg)
        raise WFErrorContinue(int(errorCode), str(msg), recorded=True)

    def raise_error_finish(self, errorCode: int, msg: Any) -> None:
        """Stores the error, finishes the job with errorCode, and ends this run."""
        self.job_log_error(errorCode, msg)
        self.record_result(errorCode)
        raise WFErrorFinish(int(errorCode), str(msg), recorded=True)

    # -- the original zeroG's job API (tiptapinc/zerog) -------------------------------------

    def record_event(self, msg: Any) -> None:
        """Stores an event (``job_log_info`` also logs it)."""
        self._record("events", str(msg))

    def record_warning(self, msg: Any) -> None:
        """Stores a warning (``job_log_warning`` also logs it)."""
        self._record("warnings", str(msg))

    def record_error(self, errorCode: int, msg: Any, exception: BaseException | None = None) -> None:
        """Stores an error with its code, counted in errorCount (``job_log_error`` also logs
        it). ``exception`` is the original's hook for subclasses that override this method."""
        self._record("errors", str(msg), int(errorCode))

    def raise_warning_continue(self, resultCode: int, msg: Any) -> None:
        """Stores the warning and ends this run; the job runs again (see WarningContinue)."""
        self.job_log_warning(msg)
        raise WarningContinue(int(resultCode), str(msg), recorded=True)

    def raise_warning_finish(self, resultCode: int, msg: Any) -> None:
        """Stores the warning, records resultCode and ends the job with it."""
        self.job_log_warning(msg)
        self.record_result(resultCode)
        raise WarningFinish(int(resultCode), str(msg), recorded=True)

    def keep_alive(self) -> None:
        """The original's way to keep a long run's queue entry: zeroG's worker renews the lease
        by itself while run() executes, so this records a heartbeat (``heartbeatAt``), and
        calls the keepalive the job was built with, if any (``JobRegistry.make_job``)."""
        ctx = self._context()
        if ctx is not None:
            ctx.heartbeat()
        keepalive = getattr(self, "keepalive", None)
        if callable(keepalive):
            keepalive()

    def set_tick_value(self, tickval: float) -> None:
        """How much each ``tick()`` adds to completeness (0.001 unless set)."""
        self.update_attrs(tickval=float(tickval))

    def tick(self) -> None:
        """Adds ``tickval`` to completeness, reported once the ticks add up to 0.01 (the
        original's way to report progress from a loop of many small steps)."""
        self.tickcount += self.tickval
        if self.tickcount >= 0.01:
            gathered, self.tickcount = self.tickcount, 0.0
            self.set_completeness(self.completeness + gathered)

    def continue_running(self) -> int:
        """Asked by the worker after a run that failed or ended with WarningContinue: NO_RESULT
        to run the job again, else the result to finish it with. By default INTERNAL_ERROR once
        errorCount reaches MAX_ERRORS, if the class sets it; override it to decide otherwise
        (the original's hook). Without either, MAX_RETRIES decides."""
        if self.MAX_ERRORS is not None and self.errorCount >= self.MAX_ERRORS:
            return INTERNAL_ERROR
        return NO_RESULT


# The registry finds job classes as BaseJob's subclasses; it cannot import this module, which
# imports it.
registry.track_subclasses_of(BaseJob)


def document_progress(doc: dict[str, Any]) -> dict[str, Any]:
    """``BaseJob.progress()`` read off a stored document, without building the job."""
    return {"completeness": doc.get("completeness", 0.0), "result": doc.get("resultCode", NO_RESULT)}


def document_finished(doc: dict[str, Any]) -> bool:
    """Whether a stored document's job has ended: done, failed or cancelled."""
    # Documents written by the original zeroG have no status: a result other than -1 is final.
    status = doc.get("status")
    return status in FINAL_STATUSES if status else doc.get("resultCode", NO_RESULT) != NO_RESULT


def document_status(doc: dict[str, Any]) -> str:
    """A stored document's status. One written by the original zeroG has none: the engine
    derives it from its resultCode and running, as its stores do."""
    status, code, running = doc.get("status"), doc.get("resultCode"), doc.get("running")
    return _zerog.document_status(
        status if isinstance(status, str) else None,
        code if isinstance(code, int) and not isinstance(code, bool) and -(2**63) <= code < 2**63 else None,
        running is True,
    )


def document_log(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A stored document's log entries (its events, warnings and errors) in time order, each
    with what it is (``LOG_LISTS``: ``"event"``, ``"warning"``, ``"error"``)."""
    entries = [(kind, e) for name, kind in LOG_LISTS.items() for e in doc.get(name) or () if isinstance(e, dict)]
    # Timestamps are ISO 8601 UTC in one format, so as strings they sort in time order; the sort
    # is stable, so entries of one list written in the same microsecond keep their order.
    entries.sort(key=lambda entry: str(entry[1].get("timeStamp") or ""))
    return entries


def batch_entries(chunk: list[BaseJob], delay: int) -> list[tuple[str, dict[str, Any], str, int, int, int]]:
    """For ``zeroG.bulk``: each new job's fields set for a fresh start, then its entry of a
    ``BulkEnqueue`` batch (uuid, document, tube, priority, delay, TTR). One timestamp for the
    batch: its jobs are saved together."""
    now = _now()
    out = []
    for job in chunk:
        ttr, pri = int(job.TTR), int(job.PRIORITY)
        for name, value in _restart_fields(job, ttr, pri, delay).items():
            setattr(job, name, value)
        job.updatedAt = now
        out.append((job.uuid, job._document(), job.QUEUE_NAME, pri, delay, ttr))
    return out


def check_unsaved(job: BaseJob) -> None:
    """The ways that create a job's document (bulk and async enqueue) take only new jobs."""
    if job.cas != 0:
        raise ValueError(f"job {job.uuid} was saved already; enqueue it with job.enqueue()")


def _restart_fields(job: BaseJob, ttr: int, priority: int, delay: int) -> dict[str, Any]:
    fields_: dict[str, Any] = {
        "queueKwargs": {"ttr": ttr, "priority": priority, "delay": delay},
        "status": "queued",
        "queueName": job.QUEUE_NAME,
    }
    if job.resultCode != NO_RESULT or job.status in FINAL_STATUSES:
        fields_.update(resultCode=NO_RESULT, completeness=0.0, finishedAt=None, retries=0, buried=False)
        # A cancelled job enqueued again starts over, without the request that stopped it.
        fields_.update(cancelRequested=False, cancelRequestedAt=None)
    return fields_


def _load_document(cls: type[BaseJob], doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reads a stored document: the job's own fields are validated by its schema, the base
    fields (zeroG's own) pass through. Returns the values for ``__init__`` and the fields that
    neither knows, which are kept and written back untouched."""
    own = cls._own_schema()
    own_fields = own.fields if own is not None else {}
    values = {k: v for k, v in doc.items() if k in _BASE_DECLARED and k not in own_fields}
    extra = {k: v for k, v in doc.items() if k not in _BASE_DECLARED and k not in own_fields}
    if own is not None:
        values.update(own.load({k: v for k, v in doc.items() if k in own_fields}, unknown=EXCLUDE))
    if not isinstance(doc.get("status"), str):
        # Written by the original zeroG, which keeps no status: as the stores derive it.
        values["status"] = document_status(doc)
    return values, extra


def build_job(doc: dict[str, Any], cas: int) -> BaseJob:
    """The job object for a stored document, its class chosen by ``jobType``."""
    job_type = doc.get("jobType")
    if not isinstance(job_type, str):
        raise ValueError(f"document has no jobType (got {job_type!r})")
    return stored_job(registry.get_class(job_type), doc, cas)


def stored_job(cls: type[BaseJob], doc: dict[str, Any], cas: int, args: tuple[Any, ...] = ()) -> BaseJob:
    """A job of ``cls`` for a stored document; ``args`` as for ``new_job``."""
    values, extra = _load_document(cls, doc)
    job = cls(*args, **values, cas=cas)
    job._extra = extra
    return job


class UnregisteredJob(BaseJob):
    """A stored job whose class this process has not imported: a watcher's view of it.

    Its progress, info, logs and document read as any job's do (``progress()``, ``info()``,
    ``dump()``, ``events``...; the job's own fields as attributes), so a script, the admin
    command or a dashboard can follow any job without importing job modules. What needs the
    class (running it, ``get_data()``, enqueueing it again on its class's tube) raises
    UnknownJobType naming the type. It is never registered: it declares no JOB_TYPE.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobType = kwargs.get("jobType") or self.jobType
        self.documentType = kwargs.get("documentType") or self.documentType

    def __getattr__(self, name: str) -> Any:
        # Only for names that are not attributes: the job's own fields, kept as they were stored.
        extra = self.__dict__.get("_extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} of type {self.__dict__.get('jobType')!r} has no field {name!r}")

    def _needs_class(self, what: str) -> UnknownJobType:
        return UnknownJobType(
            f"{what} job {self.uuid} needs its class: job type {self.jobType!r} is not registered in this "
            "process; import its module (or add it to zeroG.registry.JOB_MODULES)"
        )

    def run(self) -> Any:
        raise self._needs_class("running")

    def get_data(self) -> dict[str, Any]:
        raise self._needs_class("the data of")

    def _queue_options(self, delay: float, priority: int | None, ttr: int | None) -> tuple[int, int, int]:
        # Its class's QUEUE_NAME, TTR and PRIORITY are unknown here: enqueueing would guess them.
        raise self._needs_class("enqueueing")


def view_job(doc: dict[str, Any], cas: int) -> BaseJob:
    """The job object for a stored document: its class's when this process has it, else an
    ``UnregisteredJob`` that reads like one."""
    job_type = doc.get("jobType")
    if isinstance(job_type, str) and registry.find_class(job_type) is None:
        values = {k: v for k, v in doc.items() if k in _BASE_DECLARED and k not in ("jobType", "documentType")}
        job = UnregisteredJob(**values, jobType=job_type, documentType=doc.get("documentType"), cas=cas)
        job._extra = {k: v for k, v in doc.items() if k not in _BASE_DECLARED}
        return job
    return build_job(doc, cas)


def make_base_job(
    values: dict[str, Any] | None = None, job_type: str | None = None, *, jobType: str | None = None
) -> BaseJob:
    """A new job of ``job_type`` (or ``jobType``, the geyser-era keyword, or
    ``values["jobType"]``), its values checked by the class's SCHEMA. It is saved no later than
    its first ``enqueue()``.

    Raises InvalidJobValues (a marshmallow ValidationError) naming every bad field, and
    UnknownJobType for a type no registered class has.
    """
    values = dict(values or {})
    job_type = job_type or jobType or values.get("jobType")
    if not job_type:
        raise ValueError("make_base_job needs a job type: pass job_type or values['jobType']")
    return new_job(registry.get_class(job_type), values)


def new_job(cls: type[BaseJob], values: dict[str, Any], args: tuple[Any, ...] = ()) -> BaseJob:
    """A new job of ``cls`` from ``values``, checked by its SCHEMA (InvalidJobValues); ``args``
    are the original zeroG's positional ones (datastore, queue, keepalive)."""
    values = dict(values)
    job_type = cls.JOB_TYPE
    values.pop("jobType", None)
    own = cls._own_schema()
    try:
        if own is not None and values.keys() <= own.fields.keys():
            # The usual case, only the job's own fields: the same result for a fraction of the
            # cost of running the base fields through marshmallow as well.
            loaded = own.load(values)
        elif own is None and not values:
            loaded = {}
        else:
            loaded = cls._schema().load(values)
    except ValidationError as e:
        raise InvalidJobValues(job_type, e) from None
    return cls(*args, **loaded)


def cancel(uuid: str) -> str:
    """Cancels the job ``uuid`` (cooperatively) and returns its status after the call.

    - A job that is not running (``queued``, or ``waiting`` to run again) is cancelled at once:
      it returns ``"cancelled"``, and its queue entry is dropped unrun by the worker that
      reserves it.
    - A running job returns ``"running"``: the request is written into its document
      (``cancelRequested``, ``cancelRequestedAt``), and its worker stops it, at the job's next
      ``job_log`` call or within about a second (at most a lease renewal period, TTR/3, when
      that is shorter) if it makes none, by raising ``JobCancelled`` inside ``run()``. The job
      is then recorded ``cancelled`` (never retried), however its run ends.
    - A finished job (``done``, ``failed``, ``cancelled``) is left unchanged; its status is
      returned.

    A cancelled job has status ``"cancelled"``, ``resultCode`` ``CANCELLED`` (410), ``finishedAt``
    set, ``running`` false, and an event saying how it was cancelled; its completeness stays where
    the job got to. Asking twice is harmless. Raises ``DocumentNotFound`` for an unknown uuid.
    The write is compare-and-swap, retried when another writer got there first.
    """
    return _zerog.cancel_job(config.get_store(), uuid)


async def cancel_async(uuid: str) -> str:
    """``cancel()`` for asyncio code: the store calls are awaited, off the event loop."""
    return await _zerog.cancel_job_async(config.get_store(), uuid)


def run_again(uuid: str) -> int:
    """Queues the job ``uuid`` again, under its own uuid, if it failed or was cancelled; returns
    its new queue entry's id.

    Its events, warnings, errors and ``attempts`` are kept, and an event says it was run again.
    Its retry budget (``retries``, ``errorCount``), its cancel request, ``completeness``,
    ``resultCode``, ``startedAt`` and ``finishedAt`` start afresh. Raises ``ValueError`` for a
    job that is not failed or cancelled (two requests at once queue it once), and
    ``DocumentNotFound`` for an unknown uuid. If the put fails, the document is left as it was.
    """
    return _zerog.run_again(config.get_store(), config.get_queue(), uuid)


async def run_again_async(uuid: str) -> int:
    """``run_again()`` for asyncio code."""
    return await _zerog.run_again_async(config.get_store(), config.get_queue(), uuid)


def get_base_job(uuid: str) -> BaseJob | None:
    """The job with this uuid, loaded from the store; None if there is none. Any process can
    read any job's progress, info and document: without the job's class (its module not
    imported) it is an ``UnregisteredJob``."""
    found = config.get_store().get(make_key(uuid))
    if found is None:
        return None
    doc, cas = found
    return view_job(doc, cas)


# Re-exported for code written against the original zeroG.
__all__ += ["INTERNAL_ERROR", "NO_RESULT", "WFErrorContinue", "WFErrorFinish"]
__all__ += ["CANCELLED"]
