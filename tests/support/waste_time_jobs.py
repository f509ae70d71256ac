"""The job class of the original zeroG's docs/example.rst (tiptapinc/zerog), as it is there,
with the package's import name changed (`zerog` to `zeroG`). Used by tests/test_original_example.py."""

# ruff: noqa: UP008 - the example's own code, kept as written
import random
import time

from marshmallow import fields

import zeroG


class WasteTimeJobSchema(zeroG.BaseJobSchema):
    delay = fields.Integer()


class WasteTimeJob(zeroG.BaseJob):
    JOB_TYPE = "waste_time"
    SCHEMA = WasteTimeJobSchema

    def __init__(self, *args, **kwargs):
        super(WasteTimeJob, self).__init__(*args, **kwargs)
        self.delay = kwargs.get("delay", 30)

    def run(self):
        end = time.time() + self.delay
        logInterval = self.delay / 10

        while True:
            if time.time() > end:
                break

            logDelay = (random.random() + 0.5) * logInterval
            time.sleep(logDelay)
            self.add_to_completeness(logDelay / self.delay)
            self.job_log_info(f"{end - time.time():.2f} seconds remaining")

        return 200, None
