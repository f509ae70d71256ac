"""zeroG: a job system for long-running background work.

Define jobs by subclassing ``zeroG.BaseJob``; make them with ``zeroG.jobs.make_base_job``,
queue them with ``job.enqueue()``, run them with ``zerog-worker``, watch them through
``zeroG.jobs.get_base_job(uuid).progress()`` or over HTTP with ``zerog-server``
(``zeroG.make_app``, ``zeroG.Server``), and stop them with ``zeroG.cancel(uuid)``.
"""

from zeroG import _zerog, job_log, jobs, registry
from zeroG.bulk import enqueue_many
from zeroG.config import configure
from zeroG.datastores import CouchbaseDatastore
from zeroG.errors import (
    CANCELLED,
    INTERNAL_ERROR,
    NO_RESULT,
    CasMismatch,
    ConfigError,
    DuplicateJobType,
    InvalidJobValues,
    JobCancelled,
    UnknownJobType,
    WFErrorContinue,
    WFErrorFinish,
    ZeroGError,
)
from zeroG.job_registry import JobRegistry
from zeroG.jobs import BaseJob, BaseJobSchema, cancel, get_base_job, make_base_job
from zeroG.queues import BeanstalkdQueue
from zeroG.registry import find_subclasses, import_submodules

__version__ = _zerog.__version__


# The original zeroG's top-level names for its handlers, as its README imports them.
_HANDLERS = (
    "BaseHandler",
    "DumpHandler",
    "GetDataHandler",
    "InfoHandler",
    "ProgressHandler",
    "RunJobHandler",
    "JOB_TYPE_PATT",
    "UUID_PATT",
)


def __getattr__(name: str) -> object:
    # The HTTP server loads Tornado: imported on first use, so that workers and producers,
    # which never serve HTTP, do not pay for it.
    if name in ("Server", "make_app"):
        from zeroG.http import app

        return getattr(app, name)
    if name in _HANDLERS:
        from zeroG import handlers

        return getattr(handlers, name)
    if name == "BaseWorker":
        from zeroG import workers

        return workers.BaseWorker
    raise AttributeError(f"module 'zeroG' has no attribute {name!r}")


__all__ = [
    "CANCELLED",
    "JOB_TYPE_PATT",
    "UUID_PATT",
    "BaseHandler",
    "BaseWorker",
    "BeanstalkdQueue",
    "CouchbaseDatastore",
    "DumpHandler",
    "GetDataHandler",
    "InfoHandler",
    "ProgressHandler",
    "RunJobHandler",
    "INTERNAL_ERROR",
    "NO_RESULT",
    "BaseJob",
    "BaseJobSchema",
    "CasMismatch",
    "ConfigError",
    "DuplicateJobType",
    "InvalidJobValues",
    "JobCancelled",
    "JobRegistry",
    "Server",
    "UnknownJobType",
    "WFErrorContinue",
    "WFErrorFinish",
    "ZeroGError",
    "cancel",
    "configure",
    "enqueue_many",
    "find_subclasses",
    "get_base_job",
    "import_submodules",
    "job_log",
    "jobs",
    "make_app",
    "make_base_job",
    "registry",
]
