"""Job classes for the dashboard's browser tests (`tests/test_dashboard.py`), imported by the
server and the workers with `--module dashboard_jobs`. Every JOB_TYPE starts with ``ui_``."""

from __future__ import annotations

import time
from typing import Any

from marshmallow import fields

from zeroG import job_log
from zeroG.errors import WFErrorFinish
from zeroG.jobs import BaseJob, BaseJobSchema


class UiSchema(BaseJobSchema):
    steps = fields.Integer(load_default=10)
    pause = fields.Float(load_default=0.3)


class UiSteps(BaseJob):
    """Moves its progress one step at a time, with an event per step, ``pause`` seconds apart."""

    JOB_TYPE = "ui_steps"
    SCHEMA = UiSchema
    QUEUE_NAME = "ui"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps: int = kwargs.get("steps", 10)
        self.pause: float = kwargs.get("pause", 0.3)

    def run(self) -> Any:
        for step in range(1, self.steps + 1):
            time.sleep(self.pause)
            job_log.info(f"step {step} of {self.steps}")
            job_log.set_completeness(step / self.steps)
        return (time.time(), False)


#: What a hostile job writes into its log: markup that would run if a page inserted it as HTML.
HOSTILE = '<script>window.__pwned = "script"</script><img src="x" onerror="window.__pwned = \'img\'">'


class UiHostile(UiSteps):
    """Logs markup in an event and a warning, then fails with it as its error."""

    JOB_TYPE = "ui_hostile"

    def run(self) -> Any:
        job_log.info(HOSTILE)
        job_log.warning(HOSTILE)
        raise WFErrorFinish(400, HOSTILE)


class UiFails(UiSteps):
    """Fails at once: error 500, no retry."""

    JOB_TYPE = "ui_fails"
    MAX_RETRIES = 0

    def run(self) -> Any:
        job_log.info("about to fail")
        raise WFErrorFinish(500, "it failed, as it was written to")
