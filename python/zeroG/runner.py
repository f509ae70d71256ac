"""The Python half of a run, called by the engine's worker loop: build the job from its document,
run it, and turn what happened into a ``RunOutcome`` (one named constructor per ending).
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from typing import Any

from zeroG import job_log, registry
from zeroG._zerog import RunContext, RunOutcome
from zeroG.errors import INTERNAL_ERROR, NO_RESULT, JobCancelled, WFErrorContinue, WFErrorFinish
from zeroG.jobs import BaseJob, build_job

#: The original zeroG's delay when run() returns a bare NO_RESULT.
DEFAULT_REQUEUE_DELAY = 10.0


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
        except WFErrorFinish as e:
            return RunOutcome.fail(e.code, e.msg, e.recorded)
        except WFErrorContinue as e:
            return RunOutcome.retry(e.code, e.msg, e.recorded)
        except BaseException:  # noqa: BLE001 - a job's exception (even SystemExit) is an outcome
            return RunOutcome.retry(INTERNAL_ERROR, traceback.format_exc())
        finally:
            job_log.clear_current()
