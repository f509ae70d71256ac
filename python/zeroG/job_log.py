"""Reporting from inside a running job.

These functions act on the job that this worker is running: completeness, events, warnings and
errors are stored on it, and every call is also a heartbeat. A call costs the job microseconds:
the worker writes the reports to the document in the background (within 50 ms) and always
before it records the run's outcome. Called outside a running job, each function only logs.

Once the job was cancelled (``zeroG.jobs.cancel``) and its worker has seen it, every reporting
call raises ``zeroG.JobCancelled`` instead of reporting: let it end ``run()``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from zeroG.errors import INTERNAL_ERROR, WFErrorContinue, WFErrorFinish

if TYPE_CHECKING:
    from zeroG._zerog import RunContext
    from zeroG.jobs import BaseJob

__all__ = [
    "cancel_requested",
    "current_job",
    "error_continue",
    "error_finish",
    "error_log_only",
    "heartbeat",
    "increment_completeness",
    "info",
    "set_completeness",
    "track_completeness",
    "warning",
]

log = logging.getLogger("zeroG.job_log")

_job: BaseJob | None = None
_ctx: RunContext | None = None


def set_current(job: BaseJob, ctx: RunContext) -> None:
    """Makes ``job`` the running one, for the worker's runner (``zeroG.runner``); not for jobs."""
    global _job, _ctx
    _job, _ctx = job, ctx


def clear_current() -> None:
    """No job is running any more: for the worker's runner, once a run ends."""
    global _job, _ctx
    _job, _ctx = None, None


def context_for(job: BaseJob) -> RunContext | None:
    """The run context if ``job`` is the one running here (its method forms report through it)."""
    return _ctx if (_job is job and _ctx is not None) else None


def current_job() -> BaseJob | None:
    """The job this worker is running, or None."""
    return _job


def cancel_requested() -> bool:
    """Whether the running job was cancelled (as far as its worker has seen). For a job that
    wants to stop cleanly at a point of its choosing; any reporting call raises JobCancelled
    anyway."""
    return _ctx is not None and _ctx.cancel_requested


def _tag() -> str:
    return f"[{_job.JOB_TYPE} {_job.uuid}] " if _job is not None else "[no running job] "


def set_completeness(completeness: float, enforceMinInterval: bool = False) -> None:
    """Sets the job's completeness (clamped to 0..1). With ``enforceMinInterval``, an update
    within 2 s of the last one is skipped."""
    if _ctx is None or _job is None:
        log.info("%sset_completeness(%s)", _tag(), completeness)
        return
    value = _ctx.set_completeness(float(completeness), bool(enforceMinInterval))
    if value is not None:
        _job.completeness = value


def track_completeness(start: float = 0.0, end: float = 1.0, intervals: float = 1) -> None:
    """Prepares ``increment_completeness()``: ``intervals`` equal steps from start to end."""
    if _ctx is None:
        log.info("%strack_completeness(%s, %s, %s)", _tag(), start, end, intervals)
        return
    _ctx.track_completeness(float(start), float(end), float(intervals))


def increment_completeness() -> None:
    """One tracked step: completeness = start + (end - start) * step / intervals, capped at end,
    with the 2 s minimum interval (a skipped step is caught up by the next)."""
    if _ctx is None or _job is None:
        log.info("%sincrement_completeness()", _tag())
        return
    value = _ctx.increment_completeness()
    if value is not None:
        _job.completeness = value


def heartbeat() -> None:
    """Shows the job is alive, with nothing else to report."""
    if _ctx is not None:
        _ctx.heartbeat()


def info(msg: Any) -> None:
    """Logs ``msg`` and stores it on the job as an event with a timestamp."""
    log.info("%s%s", _tag(), msg)
    if _ctx is not None:
        _ctx.log("events", str(msg))


def warning(msg: Any) -> None:
    """Logs ``msg`` and stores it on the job as a warning with a timestamp."""
    log.warning("%s%s", _tag(), msg)
    if _ctx is not None:
        _ctx.log("warnings", str(msg))


def error_log_only(msg: Any) -> None:
    """Logs an error without storing it, then ends the run to be retried (WFErrorContinue)."""
    log.error("%s%s", _tag(), msg)
    if _ctx is not None:
        _ctx.heartbeat()
        raise WFErrorContinue(str(msg), code=INTERNAL_ERROR, recorded=True)


def error_continue(errorCode: int, msg: Any) -> None:
    """Stores the error on the job, then ends the run to be retried (WFErrorContinue)."""
    log.error("%s%s: %s", _tag(), errorCode, msg)
    if _ctx is not None:
        _ctx.log("errors", str(msg), int(errorCode))
        raise WFErrorContinue(int(errorCode), str(msg), recorded=True)


def error_finish(errorCode: int, msg: Any) -> None:
    """Stores the error and the result code, then ends the job for good (WFErrorFinish)."""
    log.error("%s%s: %s", _tag(), errorCode, msg)
    if _ctx is not None and _job is not None:
        _ctx.log("errors", str(msg), int(errorCode))
        _ctx.set_result(int(errorCode))
        _job.resultCode, _job.completeness = int(errorCode), 1.0
        raise WFErrorFinish(int(errorCode), str(msg), recorded=True)
