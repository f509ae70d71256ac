"""zeroG: a job system for long-running background work.

Define jobs by subclassing ``zeroG.BaseJob``; make them with ``zeroG.jobs.make_base_job``,
queue them with ``job.enqueue()``, run them with ``zerog-worker``, and watch them through
``zeroG.jobs.get_base_job(uuid).progress()``.
"""

from zeroG import _zerog, job_log, jobs, registry
from zeroG.bulk import enqueue_many
from zeroG.config import configure
from zeroG.errors import (
    INTERNAL_ERROR,
    NO_RESULT,
    CasMismatch,
    ConfigError,
    DuplicateJobType,
    InvalidJobValues,
    UnknownJobType,
    WFErrorContinue,
    WFErrorFinish,
    ZeroGError,
)
from zeroG.jobs import BaseJob, BaseJobSchema, get_base_job, make_base_job

__version__ = _zerog.__version__

__all__ = [
    "INTERNAL_ERROR",
    "NO_RESULT",
    "BaseJob",
    "BaseJobSchema",
    "CasMismatch",
    "ConfigError",
    "DuplicateJobType",
    "InvalidJobValues",
    "UnknownJobType",
    "WFErrorContinue",
    "WFErrorFinish",
    "ZeroGError",
    "configure",
    "enqueue_many",
    "get_base_job",
    "job_log",
    "jobs",
    "make_base_job",
    "registry",
]
