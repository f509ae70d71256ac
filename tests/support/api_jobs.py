"""Job classes for the job API tests (test_jobs.py, test_job_log.py, test_registry.py).

Every JOB_TYPE here starts with ``api_`` so that it never clashes with the worker tests' classes.
All of them use the tube ``api_jobs``; workers started with ``--module api_jobs`` watch it.

The jobs run by a worker write what they saw into their ``observed`` field (via ``update_attrs``)
so that a test can check values that a later step (finishing sets completeness to 1.0) would hide.
Jobs that end with ``_park()`` ask to run again in an hour: the job waits in the queue with its
document as the run left it, for the test to inspect.
"""

from __future__ import annotations

import time
from typing import Any

from marshmallow import fields

from zeroG import job_log
from zeroG.jobs import BaseJob, BaseJobSchema

QUEUE = "api_jobs"


def _park() -> tuple[float, bool]:
    """run()'s return value for "run again in an hour": the job stays waiting."""
    return (time.time() + 3600, True)


# -- the README style: a schema subclass with its own fields, read in __init__ ----------------


class GreetingJobSchema(BaseJobSchema):
    name = fields.String(required=True)
    times = fields.Integer()
    tags = fields.List(fields.String())


class GreetingJob(BaseJob):
    JOB_TYPE = "api_greeting"
    SCHEMA = GreetingJobSchema
    QUEUE_NAME = QUEUE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = kwargs.get("name")
        self.times = kwargs.get("times", 1)
        self.tags = kwargs.get("tags", [])

    def run(self) -> tuple[float, bool]:
        job_log.info(f"hello {self.name}")
        return (0, False)


class DataJob(GreetingJob):
    """Another type with the same schema, and result data through get_data()."""

    JOB_TYPE = "api_data"

    def get_data(self) -> dict[str, Any]:
        return {"greeting": f"hello {self.name}", "times": self.times}


# -- a job with fields for the concurrency tests ----------------------------------------------

WRITERS = 4


class CounterJobSchema(BaseJobSchema):
    label = fields.String()
    observed = fields.List(fields.Raw())
    # One field per concurrent writer (WRITERS of them).
    slot0 = fields.Integer()
    slot1 = fields.Integer()
    slot2 = fields.Integer()
    slot3 = fields.Integer()


class CounterJob(BaseJob):
    JOB_TYPE = "api_counter"
    SCHEMA = CounterJobSchema
    QUEUE_NAME = QUEUE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = kwargs.get("label", "")
        self.observed = kwargs.get("observed", [])
        for i in range(WRITERS):
            setattr(self, f"slot{i}", kwargs.get(f"slot{i}", 0))

    def run(self) -> tuple[float, bool]:
        return (0, False)


# -- jobs run by a worker, each exercising zeroG.job_log ---------------------------------------


class ObservingSchema(BaseJobSchema):
    observed = fields.List(fields.Raw())
    fail_times = fields.Integer()


class _Observing(BaseJob):
    SCHEMA = ObservingSchema
    QUEUE_NAME = QUEUE
    MAX_RETRIES = 1
    RETRY_DELAY = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.observed = kwargs.get("observed", [])
        self.fail_times = kwargs.get("fail_times", 0)

    def run(self) -> Any:
        raise NotImplementedError


class SetCompletenessJob(_Observing):
    """Clamping and enforceMinInterval, as the job sees them; parks with completeness 0.1."""

    JOB_TYPE = "api_set_completeness"

    def run(self) -> tuple[float, bool]:
        seen = []
        job_log.set_completeness(5.0)  # clamped to 1.0
        seen.append(self.completeness)
        job_log.set_completeness(-1.0)  # clamped to 0.0
        seen.append(self.completeness)
        job_log.set_completeness(0.1)
        seen.append(self.completeness)
        job_log.set_completeness(0.2, enforceMinInterval=True)  # < 2 s after 0.1: skipped
        seen.append(self.completeness)
        self.update_attrs(observed=seen)
        return _park()


class TrackCompletenessJob(_Observing):
    """track_completeness(0, 0.5, 4) and increments around two pauses longer than 2 s."""

    JOB_TYPE = "api_track_completeness"

    def run(self) -> tuple[float, bool]:
        seen = []

        def step() -> None:
            job_log.increment_completeness()
            seen.append(self.completeness)

        job_log.track_completeness(0.0, 0.5, 4)
        step()  # 1/4 -> 0.125, the first update is never throttled
        step()  # 2/4 -> 0.25, within 2 s: skipped
        time.sleep(2.1)
        step()  # 3/4 -> 0.375: caught up (not 0.25)
        step()  # 4/4 -> 0.5, skipped
        step()  # 5/4 -> 0.625 -> capped at 0.5, skipped
        time.sleep(2.1)
        step()  # 6/4 -> 0.75 -> capped at 0.5
        self.update_attrs(observed=seen)
        return _park()


class InfoWarningJob(_Observing):
    JOB_TYPE = "api_info_warning"

    def run(self) -> tuple[float, bool]:
        job_log.info("first event")
        job_log.warning("a warning")
        job_log.info(42)  # anything is stored as its str()
        return (0, False)


class ErrorLogOnlyJob(_Observing):
    JOB_TYPE = "api_error_log_only"

    def run(self) -> tuple[float, bool]:
        job_log.error_log_only("logged, not stored")
        return (0, False)  # never reached


class ErrorContinueJob(_Observing):
    """error_continue(512) while fewer than ``fail_times`` errors are stored, then done."""

    JOB_TYPE = "api_error_continue"

    def run(self) -> tuple[float, bool]:
        if len(self.errors) < self.fail_times:
            job_log.error_continue(512, f"attempt {self.attempts} failed")
        return (0, False)


class ErrorFinishJob(_Observing):
    JOB_TYPE = "api_error_finish"

    def run(self) -> tuple[float, bool]:
        job_log.set_completeness(0.3)
        job_log.error_finish(476, "cannot go on")
        return (0, False)  # never reached


class MethodFormsJob(_Observing):
    """The BaseJob method forms, called inside a worker, then raise_error_finish."""

    JOB_TYPE = "api_method_forms"

    def run(self) -> tuple[float, bool]:
        self.set_completeness(0.4)
        self.add_to_completeness(0.2)
        self.update_attrs(observed=[self.completeness])
        self.job_log_info("method info")
        self.job_log_warning("method warning")
        self.raise_error_finish(418, "method finish")
        return (0, False)  # never reached


class LeakFirstJob(_Observing):
    """Sets tracking state, then ends with an error: none of it may reach the next job."""

    JOB_TYPE = "api_leak_first"

    def run(self) -> tuple[float, bool]:
        job_log.track_completeness(0.0, 1.0, 2)
        job_log.increment_completeness()
        job_log.info("first job")
        job_log.error_finish(499, "first job ends")
        return (0, False)


class LeakSecondJob(_Observing):
    """Runs after LeakFirstJob in the same worker process and records what job_log shows it."""

    JOB_TYPE = "api_leak_second"

    def run(self) -> tuple[float, bool]:
        seen: dict[str, Any] = {"current_is_self": job_log.current_job() is self, "start": self.completeness}
        job_log.increment_completeness()  # not tracking in this job: only a heartbeat
        seen["after_increment"] = self.completeness
        job_log.info("second job")
        self.update_attrs(observed=[seen])
        return _park()
