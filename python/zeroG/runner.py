"""The Python half of a run, called by the engine's worker loop: build the job from its document,
run it, and turn what happened into a ``RunOutcome`` (one named constructor per ending).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import traceback
from typing import Any

from zeroG import job_log, registry
from zeroG._zerog import RunContext, RunOutcome
from zeroG.errors import (
    INTERNAL_ERROR,
    NO_RESULT,
    JobCancelled,
    WarningContinue,
    WarningFinish,
    WFErrorContinue,
    WFErrorFinish,
)
from zeroG.jobs import BaseJob, build_job

#: The original zeroG's delay when run() returns a bare NO_RESULT.
DEFAULT_REQUEUE_DELAY = 10.0
log = logging.getLogger("zeroG.worker")


def asks_continue_running(cls: type[BaseJob]) -> bool:
    """Whether a failed run is the class's own ``continue_running()`` to judge: it sets the
    original's MAX_ERRORS, or overrides the hook."""
    return cls.MAX_ERRORS is not None or cls.continue_running is not BaseJob.continue_running


def _finished(code: int = 200) -> RunOutcome:
    return RunOutcome.finished(code)


def _cancelled(e: JobCancelled) -> RunOutcome:
    return RunOutcome.cancelled(str(e))


def _requeue(delay: float) -> RunOutcome:
    return RunOutcome.requeue(float(delay))


def _as_int(value: Any, fallback: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return fallback


def normalize(rv: Any) -> RunOutcome:
    """What run() returned, as an outcome. Lenient like the original zeroG:

    - ``(resume_at, requeue: bool)``: requeue at that epoch time, or finished with 200;
    - ``(resultCode, delay)``: resultCode -1 requeues after delay seconds (10 if unusable),
      anything else finishes with that code (200 if unusable);
    - a bare int: the same, with the default delay; anything else: finished with 200.
    """
    if isinstance(rv, (tuple, list)) and len(rv) == 2:
        first, second = rv
        if isinstance(second, bool):
            if second:
                resume_at = float(first) if isinstance(first, (int, float)) else time.time()
                return _requeue(resume_at - time.time())
            return _finished()
        code = _as_int(first, 200)
        if code == NO_RESULT:
            delay = second if isinstance(second, (int, float)) else DEFAULT_REQUEUE_DELAY
            return _requeue(delay)
        return _finished(code)
    if isinstance(rv, int) and not isinstance(rv, bool):
        return _requeue(DEFAULT_REQUEUE_DELAY) if rv == NO_RESULT else _finished(rv)
    return _finished()


def _judged(job: BaseJob, ctx: RunContext, msg: str) -> RunOutcome:
    """The original worker's ending for a run it is to restart: ``continue_running()`` says
    whether the job runs again (after RETRY_DELAY) or finishes with the result it gives."""
    verdict = job.continue_running()
    if verdict == NO_RESULT:
        ctx.log("events", "Error - restarting")
        return _requeue(type(job).RETRY_DELAY)
    return RunOutcome.fail(verdict, msg, True)  # the worker adds the event "Error - finished"


class Runner:
    """Handed to ``zeroG._zerog.Worker``; the engine calls ``policy`` and ``run``."""

    def __init__(self, unknown_type_retry_delay: float | None = None) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        # A job whose type no registered class has cannot be built, like an unreadable document:
        # it is retried after the worker's load-retry delay (None: the engine's default policy).
        self._unknown_type_retry_delay = unknown_type_retry_delay

    def policy(self, job_type: str) -> tuple[int, float, float | None] | None:
        cls = registry.find_class(job_type)
        if cls is None:
            if self._unknown_type_retry_delay is None:
                return None
            return (int(BaseJob.MAX_RETRIES), float(self._unknown_type_retry_delay), None)
        max_runtime = float(cls.MAX_RUNTIME) if cls.MAX_RUNTIME is not None else None
        return (int(cls.MAX_RETRIES), float(cls.RETRY_DELAY), max_runtime)

    def _await(self, awaitable: Any) -> Any:
        # One event loop per worker process, reused by every async job it runs.
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        loop = self._loop
        task = asyncio.ensure_future(awaitable, loop=loop)
        try:
            return loop.run_until_complete(task)
        except BaseException:
            # Raised in the loop itself rather than by the job (JobCancelled from the cancel
            # signal, say): the job's task must not be left pending, to resume inside a later
            # job's run. Cancel it and let it unwind (its finally blocks run).
            if not task.done():
                task.cancel()
                try:
                    loop.run_until_complete(task)
                except BaseException:  # noqa: BLE001, S110 - it was cancelled: its end is not news
                    pass
            raise

    @staticmethod
    def _failed(job: BaseJob, ctx: RunContext, code: int, msg: str, recorded: bool) -> RunOutcome:
        """A run that failed: retried within MAX_RETRIES, with doubling delays. A class that
        judges its own failures (``asks_continue_running``) gets the original's way instead:
        the error stored, then ``continue_running()`` asked (seeing it counted); NO_RESULT runs
        the job again after RETRY_DELAY, with the event "Error - restarting", anything else
        finishes it with that result."""
        if not asks_continue_running(type(job)):
            return RunOutcome.retry(code, msg, recorded)
        if not recorded:
            ctx.log("errors", msg, code)
            job.errorCount += 1
        return _judged(job, ctx, msg)

    def run(self, doc: dict[str, Any], cas: int, ctx: RunContext) -> RunOutcome:
        try:
            job = build_job(doc, cas)
        except JobCancelled as e:
            return _cancelled(e)
        except Exception as e:  # noqa: BLE001 - any failure to build is reported, not raised
            return RunOutcome.unbuildable(f"{type(e).__name__}: {e}")
        job_log.set_current(job, ctx)
        try:
            rv = job.run()
            if inspect.isawaitable(rv):
                rv = self._await(rv)
            return normalize(rv)
        except JobCancelled as e:
            # Cancelled (a job_log call or the worker raised it); the worker records it so.
            return _cancelled(e)
        except WarningFinish as e:
            return _finished(e.code)
        except WFErrorFinish as e:
            return RunOutcome.fail(e.code, e.msg, e.recorded)
        except WarningContinue as e:
            # The original's way: no error counted, and the job's own verdict.
            return _judged(job, ctx, e.msg)
        except WFErrorContinue as e:
            return self._failed(job, ctx, e.code, e.msg, e.recorded)
        except SystemExit as e:
            # The original requeues a job that exits, counting no error; said in the log.
            log.warning("job %s called exit (%s): it runs again in %ss", job.uuid, e.code, type(job).RETRY_DELAY)
            return _requeue(type(job).RETRY_DELAY)
        except BaseException:  # noqa: BLE001 - a job's exception is an outcome
            return self._failed(job, ctx, INTERNAL_ERROR, traceback.format_exc(), False)
        finally:
            job_log.clear_current()
