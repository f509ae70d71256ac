"""Job classes for the worker tests (`tests/test_worker*.py`), imported by `zerog-worker --module
worker_jobs`. Every JOB_TYPE starts with ``wk_``.

The jobs talk to the test through files named in their fields: ``path`` gets one line per run
(``uuid pid attempt time``, written with O_APPEND so that several processes can share it), and
``flag`` is a file whose existence makes a long job short (or a failing job succeed).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from marshmallow import fields

from zeroG import WFErrorContinue, WFErrorFinish, job_log
from zeroG.jobs import BaseJob, BaseJobSchema


class WkSchema(BaseJobSchema):
    path = fields.String(allow_none=True)
    flag = fields.String(allow_none=True)
    seconds = fields.Float(allow_none=True)
    ret = fields.String(allow_none=True)
    code = fields.Integer(allow_none=True)
    steps = fields.Integer(allow_none=True)
    step = fields.Integer(allow_none=True)
    interval = fields.Float(allow_none=True)
    starts = fields.List(fields.Float(), allow_none=True)
    resume_ats = fields.List(fields.Float(), allow_none=True)
    note = fields.String(allow_none=True)


class WkBase(BaseJob):
    """Shared fields and helpers; run() records the start and finishes."""

    JOB_TYPE = "wk_base"
    SCHEMA = WkSchema
    QUEUE_NAME = "wk"
    MAX_RETRIES = 2
    RETRY_DELAY = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path: str | None = kwargs.get("path")
        self.flag: str | None = kwargs.get("flag")
        self.seconds: float | None = kwargs.get("seconds")
        self.ret: str | None = kwargs.get("ret")
        self.code: int | None = kwargs.get("code")
        self.steps: int | None = kwargs.get("steps")
        self.step: int = kwargs.get("step") or 0
        self.interval: float | None = kwargs.get("interval")
        self.starts: list[float] = kwargs.get("starts") or []
        self.resume_ats: list[float] = kwargs.get("resume_ats") or []
        self.note: str | None = kwargs.get("note")

    def record_start(self) -> None:
        """Appends ``uuid pid attempt time`` to the job's ``path`` (one write, O_APPEND)."""
        if not self.path:
            return
        line = f"{self.uuid} {os.getpid()} {self.attempts} {time.time():.6f}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def flagged(self) -> bool:
        return bool(self.flag) and os.path.exists(self.flag)  # type: ignore[arg-type]

    def run(self) -> Any:
        self.record_start()
        return (time.time(), False)


class WkNoop(WkBase):
    """Records its run, logs an event through job_log, and finishes."""

    JOB_TYPE = "wk_noop"

    def run(self) -> Any:
        self.record_start()
        job_log.info(f"wk_noop ran in {os.getpid()}")
        return (time.time(), False)


class WkReturn(WkBase):
    """Returns what ``ret`` names; ``"minus1"`` asks to run again in 1 s on its first attempt."""

    JOB_TYPE = "wk_return"

    def run(self) -> Any:
        self.record_start()
        ret = self.ret
        if ret == "minus1":
            return (-1, 1) if self.attempts == 1 else (200, None)
        return {
            "none": None,
            "dict": {"some": "thing"},
            "bad": ("Bad", None),
            "220": (220, None),
            "true_past": (0, False),
        }[ret or "none"]


class WkSteps(WkBase):
    """A checkpointing job: one step per run, saved with update_attrs, then requeued with
    ``(resume_at, True)`` until ``steps`` are done."""

    JOB_TYPE = "wk_steps"

    def run(self) -> Any:
        self.record_start()
        now = time.time()
        step = self.step + 1
        starts = [*self.starts, now]
        if step < (self.steps or 1):
            resume_at = now + (self.interval or 0)
            self.update_attrs(step=step, starts=starts, resume_ats=[*self.resume_ats, resume_at])
            job_log.set_completeness(step / (self.steps or 1))
            return (resume_at, True)
        self.update_attrs(step=step, starts=starts)
        return (now, False)


class WkContinue(WkBase):
    """Raises WFErrorContinue(code) until the flag file exists. Two retries, 1 s apart then 2 s."""

    JOB_TYPE = "wk_continue"
    MAX_RETRIES = 2
    RETRY_DELAY = 1

    def run(self) -> Any:
        self.record_start()
        if self.flagged():
            return (time.time(), False)
        raise WFErrorContinue(self.code or 503, f"not yet (attempt {self.attempts})")


class WkLogContinue(WkBase):
    """Uses job_log.error_continue (the error is recorded by the job itself) until flagged."""

    JOB_TYPE = "wk_log_continue"
    MAX_RETRIES = 1
    RETRY_DELAY = 0

    def run(self) -> Any:
        self.record_start()
        if self.flagged():
            return (time.time(), False)
        job_log.error_continue(self.code or 502, "upstream said no")


class WkCrash(WkBase):
    """Raises an unexpected exception until the flag file exists. One retry, at once."""

    JOB_TYPE = "wk_crash"
    MAX_RETRIES = 1
    RETRY_DELAY = 0

    def run(self) -> Any:
        self.record_start()
        if self.flagged():
            return (time.time(), False)
        raise ValueError("wk_crash exploded")


class WkFinish(WkBase):
    """Ends with an error code and is not retried: ``ret == "log"`` uses job_log.error_finish,
    otherwise it raises WFErrorFinish itself."""

    JOB_TYPE = "wk_finish"
    MAX_RETRIES = 3

    def run(self) -> Any:
        self.record_start()
        if self.ret == "log":
            job_log.error_finish(self.code or 409, "gave up on purpose (job_log)")
        raise WFErrorFinish(self.code or 418, "gave up on purpose")


class WkAsync(WkBase):
    """``async def run()``."""

    JOB_TYPE = "wk_async"

    async def run(self) -> Any:  # type: ignore[override]
        self.record_start()
        await asyncio.sleep(0.05)
        self.update_attrs(note="async ran")
        return (time.time(), False)


class WkSleep(WkBase):
    """Records its start, then sleeps ``seconds`` (0.2 s once the flag file exists), checking the
    flag every 50 ms. TTR 2 s."""

    JOB_TYPE = "wk_sleep"
    TTR = 2
    MAX_RETRIES = 3
    RETRY_DELAY = 0

    def run(self) -> Any:
        self.record_start()
        job_log.info("sleeping")
        deadline = time.monotonic() + (self.seconds or 0)
        while time.monotonic() < deadline:
            if self.flagged():
                time.sleep(0.2)
                break
            time.sleep(0.05)
        return (time.time(), False)


class WkHang(WkBase):
    """Hangs for a minute; MAX_RUNTIME 1 s, one retry."""

    JOB_TYPE = "wk_hang"
    MAX_RUNTIME = 1
    MAX_RETRIES = 1
    RETRY_DELAY = 0

    def run(self) -> Any:
        self.record_start()
        time.sleep(60)
        return (time.time(), False)


class WkStrict(WkBase):
    """A job whose document the tests corrupt (invalid field values). One retry, at once."""

    JOB_TYPE = "wk_strict"
    MAX_RETRIES = 1
    RETRY_DELAY = 0


class WkSuicide(WkBase):
    """Kills its own worker process (SIGKILL) every run. TTR 1 s, one retry."""

    JOB_TYPE = "wk_suicide"
    TTR = 1
    MAX_RETRIES = 1
    RETRY_DELAY = 0

    def run(self) -> Any:
        self.record_start()
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)
