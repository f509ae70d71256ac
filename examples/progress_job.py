"""An example job: counts down in steps, reporting progress and events as it goes."""

import time

from marshmallow import fields

import zeroG
from zeroG import job_log

COUNTDOWN = "countdown"


class CountdownSchema(zeroG.jobs.BaseJobSchema):
    steps = fields.Integer(required=True)
    stepSeconds = fields.Float(load_default=0.5)
    label = fields.String(load_default="countdown")


class CountdownJob(zeroG.BaseJob):
    JOB_TYPE = COUNTDOWN
    SCHEMA = CountdownSchema
    QUEUE_NAME = "examples"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = kwargs.get("steps")
        self.stepSeconds = kwargs.get("stepSeconds", 0.5)
        self.label = kwargs.get("label", "countdown")

    def run(self):
        job_log.track_completeness(0.0, 1.0, self.steps)
        for left in range(self.steps, 0, -1):
            time.sleep(self.stepSeconds)  # the real work would go here
            job_log.info(f"{self.label}: {left - 1} to go")
            job_log.set_completeness((self.steps - left + 1) / self.steps)
        return time.time(), False  # done: no requeue


def make_countdown(values):
    return zeroG.jobs.make_base_job(values, COUNTDOWN)
