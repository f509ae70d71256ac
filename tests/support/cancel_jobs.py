"""Job classes for the cancellation tests (`tests/test_cancel.py`), imported by `zerog-worker
--module cancel_jobs`. Every JOB_TYPE starts with ``cx_``.

Each job leaves marks in the file its ``path`` field names: one line per event (``start``,
``end``, ``finally``, ``caught``), each ``<word> <uuid> <pid> <time>``, appended with O_APPEND.
A test reads them to see what ran, how far, and in which worker process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from marshmallow import fields

from zeroG import JobCancelled, _zerog, job_log
from zeroG.jobs import BaseJob, BaseJobSchema


class CxSchema(BaseJobSchema):
    path = fields.String(allow_none=True)
    seconds = fields.Float(allow_none=True)
    requeued = fields.Boolean(allow_none=True)


class CxBase(BaseJob):
    """Marks its start and end; the subclasses differ in how they spend their time."""

    JOB_TYPE = "cx_mark"
    SCHEMA = CxSchema
    QUEUE_NAME = "cx"
    MAX_RETRIES = 2
    RETRY_DELAY = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path: str | None = kwargs.get("path")
        self.seconds: float = kwargs.get("seconds") or 120.0
        self.requeued: bool = bool(kwargs.get("requeued"))

    def mark(self, word: str) -> None:
        if not self.path:
            return
        line = f"{word} {self.uuid} {os.getpid()} {time.time():.6f}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def run(self) -> Any:
        self.mark("start")
        self.mark("end")
        return (time.time(), False)


class CxLogLoop(CxBase):
    """Reports progress through job_log every 50 ms for ``seconds``."""

    JOB_TYPE = "cx_log_loop"

    def run(self) -> Any:
        self.mark("start")
        try:
            deadline = time.monotonic() + self.seconds
            i = 0
            while time.monotonic() < deadline:
                i += 1
                job_log.info(f"step {i}")
                job_log.set_completeness(min(0.99, i / 1000))
                time.sleep(0.05)
            self.mark("end")
        finally:
            self.mark("finally")
        return (time.time(), False)


class CxLogLoopDeaf(CxLogLoop):
    """CxLogLoop with the worker's cancel signal ignored while it runs: only its job_log calls
    can stop it."""

    JOB_TYPE = "cx_log_loop_deaf"

    def run(self) -> Any:
        previous = signal.signal(_zerog.CANCEL_SIGNAL, signal.SIG_IGN)
        try:
            return super().run()
        finally:
            signal.signal(_zerog.CANCEL_SIGNAL, previous)


class CxBusy(CxBase):
    """Pure-Python busy loop for ``seconds``: no job_log call, no blocking call."""

    JOB_TYPE = "cx_busy"

    def run(self) -> Any:
        self.mark("start")
        try:
            deadline = time.monotonic() + self.seconds
            n = 0
            while time.monotonic() < deadline:
                n += 1
            self.mark("end")
        finally:
            self.mark("finally")
        return (time.time(), False)


class CxSleep(CxBase):
    """One long blocking ``time.sleep(seconds)``."""

    JOB_TYPE = "cx_sleep"

    def run(self) -> Any:
        self.mark("start")
        try:
            time.sleep(self.seconds)
            self.mark("end")
        finally:
            self.mark("finally")
        return (time.time(), False)


class CxSwallow(CxBase):
    """Catches JobCancelled, says so, and returns as if it had finished."""

    JOB_TYPE = "cx_swallow"

    def run(self) -> Any:
        self.mark("start")
        try:
            deadline = time.monotonic() + self.seconds
            while time.monotonic() < deadline:
                pass
            self.mark("end")
        except JobCancelled:
            self.mark("caught")
        return (time.time(), False)


class CxAsyncSleep(CxBase):
    """``async def run()`` awaiting a long ``asyncio.sleep``."""

    JOB_TYPE = "cx_async_sleep"

    async def run(self) -> Any:  # type: ignore[override]
        self.mark("start")
        try:
            await asyncio.sleep(self.seconds)
            self.mark("end")
        finally:
            self.mark("finally")
        return (time.time(), False)


class CxRequeueOnce(CxBase):
    """First run asks to run again after ``seconds``; the second run finishes."""

    JOB_TYPE = "cx_requeue_once"

    def run(self) -> Any:
        self.mark("start")
        if not self.requeued:
            self.update_attrs(requeued=True)
            return (time.time() + self.seconds, True)
        self.mark("end")
        return (time.time(), False)
