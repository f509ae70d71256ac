"""Jobs the benchmark runs."""

from __future__ import annotations

import json
import os
import time

from marshmallow import fields

from zeroG import BaseJob, BaseJobSchema, job_log


class NoopJob(BaseJob):
    JOB_TYPE = "bench_noop"
    QUEUE_NAME = "bench_noop"

    def run(self):  # noqa: ANN201
        return time.time(), False


class OtherNoopJob(NoopJob):
    """A second job type on a tube of its own: a producer of several types changes tube."""

    JOB_TYPE = "bench_noop_other"
    QUEUE_NAME = "bench_noop_other"


class ProgressCostSchema(BaseJobSchema):
    calls = fields.Integer()
    out = fields.String()


class ProgressCostJob(BaseJob):
    """Times `job_log.set_completeness` as the job sees it, and records when each of a series of
    values was set, so the benchmark can see how long each takes to reach the document."""

    JOB_TYPE = "bench_progress"
    QUEUE_NAME = "bench_progress"
    SCHEMA = ProgressCostSchema

    def __init__(self, **kwargs):  # noqa: ANN003
        super().__init__(**kwargs)
        self.calls = kwargs.get("calls", 100_000)
        self.out = kwargs.get("out", "")

    def run(self):  # noqa: ANN201
        n = self.calls
        t0 = time.perf_counter()
        for i in range(n):
            job_log.set_completeness(i / n * 0.5)
        per_call = (time.perf_counter() - t0) / n
        # A series of distinct values, 20 ms apart, each stamped with when it was set.
        stamps = []
        for step in range(1, 51):
            value = 0.5 + step / 100
            stamps.append((value, time.time()))
            job_log.set_completeness(value)
            time.sleep(0.02)
        with open(self.out, "w") as f:
            json.dump({"per_call_s": per_call, "stamps": stamps, "pid": os.getpid()}, f)
        return time.time(), False
