"""Job classes written the way the original zeroG (tiptapinc/zerog) documents them, for
`tests/test_original_api.py`: its method names (`record_event`, `raise_warning_continue`, ...),
its exceptions (`ErrorContinue`, `WarningFinish`, ...), `MAX_ERRORS` and `continue_running()`.
Imported by `zerog-worker --module original_jobs`. Every JOB_TYPE starts with ``og_``.

Each job counts its runs in its `attempts` (zeroG's) and does on the first run what it tests.
"""

from __future__ import annotations

import sys
from typing import Any

from marshmallow import fields

from zeroG.jobs import NO_RESULT, BaseJob, BaseJobSchema, ErrorContinue


class OgSchema(BaseJobSchema):
    note = fields.String(allow_none=True)


class OgBase(BaseJob):
    JOB_TYPE = "og_base"
    SCHEMA = OgSchema
    QUEUE_NAME = "og"
    RETRY_DELAY = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.note: str | None = kwargs.get("note")

    def run(self) -> Any:
        return 200


class OgRecords(OgBase):
    """The original's record_* methods and keep_alive, then done."""

    JOB_TYPE = "og_records"

    def run(self) -> Any:
        self.record_event("started")
        self.keep_alive()
        self.record_warning("disk nearly full")
        self.record_error(409, "a conflict, handled")
        return 200


class OgMaxErrors(OgBase):
    """Fails every run; MAX_ERRORS=2 stops it after the second."""

    JOB_TYPE = "og_max_errors"
    MAX_ERRORS = 2

    def run(self) -> Any:
        raise ValueError(f"run {self.attempts} failed")


class OgJudges(OgBase):
    """Fails its runs with ErrorContinue (recording the error itself, as the original's jobs
    did); its own continue_running() finishes it with 422 at the third error."""

    JOB_TYPE = "og_judges"

    def run(self) -> Any:
        self.record_error(503, f"upstream down, run {self.attempts}")
        raise ErrorContinue

    def continue_running(self) -> int:
        return 422 if self.errorCount >= 3 else NO_RESULT


class OgWarnContinue(OgBase):
    """Warns and stops its first run; the second finishes."""

    JOB_TYPE = "og_warn_continue"

    def run(self) -> Any:
        if self.attempts == 1:
            self.raise_warning_continue(0, "not ready yet")
        return 200


class OgWarnFinish(OgBase):
    """Warns and finishes with 202."""

    JOB_TYPE = "og_warn_finish"

    def run(self) -> Any:
        self.raise_warning_finish(202, "nothing to do")


class OgExit(OgBase):
    """Calls exit in its first run; the second finishes."""

    JOB_TYPE = "og_exit"

    def run(self) -> Any:
        if self.attempts == 1:
            sys.exit(3)
        return 200


class OgWastesTime(BaseJob):
    """Written as the original's README writes a job: its own __init__ passes the original's
    positional arguments (datastore, queue, keepalive) on, and reads its fields after."""

    JOB_TYPE = "og_wastes_time"
    SCHEMA = OgSchema
    QUEUE_NAME = "og"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.note = kwargs.get("note", "default")

    def run(self) -> Any:
        self.keep_alive()
        return 200
