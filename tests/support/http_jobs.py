"""Job classes for the REST API tests (test_server.py). Their JOB_TYPEs start with ``http_`` and
they use the tube ``http_jobs``; workers started with ``--module http_jobs`` watch it."""

from __future__ import annotations

import time
from typing import Any

from marshmallow import fields, validate

from zeroG import job_log
from zeroG.jobs import BaseJob, BaseJobSchema

QUEUE = "http_jobs"


class GreetSchema(BaseJobSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    times = fields.Integer(validate=validate.Range(min=1, max=10))
    tags = fields.List(fields.String())
    extra = fields.Dict()


class GreetJob(BaseJob):
    """Says hello ``times`` times; its data is the greeting."""

    JOB_TYPE = "http_greet"
    SCHEMA = GreetSchema
    QUEUE_NAME = QUEUE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = kwargs.get("name")
        self.times = kwargs.get("times", 1)
        self.tags = kwargs.get("tags", [])
        self.extra = kwargs.get("extra", {})

    def run(self) -> tuple[float, bool]:
        for _ in range(self.times):
            job_log.info(f"hello {self.name}")
        job_log.warning("greeted")
        return (0, False)

    def get_data(self) -> dict[str, Any]:
        return {"greeting": f"hello {self.name}", "times": self.times}


class StepsSchema(BaseJobSchema):
    steps = fields.Integer(required=True)
    pause = fields.Float()


class StepsJob(BaseJob):
    """Reports progress in ``steps`` steps, ``pause`` seconds apart, with an event for each."""

    JOB_TYPE = "http_steps"
    SCHEMA = StepsSchema
    QUEUE_NAME = QUEUE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps = kwargs.get("steps", 1)
        self.pause = kwargs.get("pause", 0.2)

    def run(self) -> tuple[float, bool]:
        for i in range(1, self.steps + 1):
            time.sleep(self.pause)
            job_log.set_completeness(i / self.steps)
            job_log.info(f"step {i}")
        return (0, False)


class NoValuesJob(BaseJob):
    """A job with no fields of its own."""

    JOB_TYPE = "http_plain"
    QUEUE_NAME = QUEUE

    def run(self) -> tuple[float, bool]:
        return (0, False)


class CustomProgressJob(NoValuesJob):
    """Answers progress() its own way: the REST route must ask the job, not read the document."""

    JOB_TYPE = "http_custom_progress"

    def progress(self) -> dict[str, Any]:
        return {**super().progress(), "stage": "custom"}
