"""zeroG's exceptions.

``WFErrorContinue`` and ``WFErrorFinish`` are what a job raises (directly or through
``zeroG.job_log``) to end a run with an error; the rest are raised by zeroG itself.
``JobCancelled`` is raised inside a running job's ``run()`` once the job was cancelled
(``zeroG.jobs.cancel``): let it propagate (re-raise it if a broad ``except`` catches it).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from zeroG._zerog import (
    CANCELLED,
    INTERNAL_ERROR,
    NO_RESULT,
    BackendError,
    CasMismatch,
    ConfigError,
    CorruptDocument,
    DocumentExists,
    DocumentNotFound,
    InvalidTubeName,
    JobCancelled,
    JobTooBig,
    QueueJobNotFound,
    ZeroGError,
)

# The result codes are the engine's: NO_RESULT (-1) until a job finishes, INTERNAL_ERROR (500)
# for a failure zeroG reports itself. CANCELLED (410) is the resultCode of a cancelled job: what the original zeroG
# recorded for a job its user killed ("Killed by user"), so its tools see a cancelled job finished.

__all__ = [
    "CANCELLED",
    "INTERNAL_ERROR",
    "NO_RESULT",
    "BackendError",
    "CasMismatch",
    "ConfigError",
    "CorruptDocument",
    "DocumentExists",
    "DocumentNotFound",
    "DuplicateJobType",
    "ErrorContinue",
    "ErrorFinish",
    "InvalidJobValues",
    "InvalidTubeName",
    "JobCancelled",
    "JobTooBig",
    "QueueJobNotFound",
    "UnknownJobType",
    "WFErrorContinue",
    "WFErrorFinish",
    "WarningContinue",
    "WarningFinish",
    "ZeroGError",
]


class _JobError(Exception):
    """Ends a run with an error. Accepts ``(msg)``, ``(code, msg)`` or ``(msg, code=...)``.

    ``recorded`` is True when the error is already stored on the job (``job_log`` does that), so
    the worker does not store it twice. Raised bare (no message, no code), it is taken as
    recorded: the original zeroG's jobs stored what happened, then raised ``ErrorContinue``.
    """

    def __init__(self, *args: Any, code: int | None = None, recorded: bool | None = None) -> None:
        if len(args) >= 2 and isinstance(args[0], int) and not isinstance(args[0], bool):
            code, msg = args[0], str(args[1])
        elif args:
            msg = str(args[0])
        else:
            msg = type(self).__name__
        super().__init__(*args)
        self.code: int = INTERNAL_ERROR if code is None else int(code)
        self.msg: str = msg
        self.recorded: bool = (not args and code is None) if recorded is None else recorded

    def __str__(self) -> str:
        return self.msg


class WFErrorContinue(_JobError):
    """Stop this run; the job is retried after its RETRY_DELAY, up to MAX_RETRIES times."""


class WFErrorFinish(_JobError):
    """Stop this run and finish the job with this error code; it is not retried."""


class WarningContinue(WFErrorContinue):
    """The original zeroG's: stop this run after a warning (``BaseJob.raise_warning_continue``
    records it). The job runs again after its RETRY_DELAY, with the event "Error - restarting",
    unless ``continue_running()`` says to finish it; no error is recorded and no retry counted."""


class WarningFinish(WFErrorFinish):
    """The original zeroG's: stop this run after a warning and finish the job with the result
    ``BaseJob.raise_warning_finish`` recorded (its ``code``): done for a code below 400. No error
    is recorded."""


#: The original zeroG's names for the two error endings.
ErrorContinue = WFErrorContinue
ErrorFinish = WFErrorFinish


class UnknownJobType(ZeroGError, LookupError):
    """No registered job class has this JOB_TYPE."""


class DuplicateJobType(ZeroGError):
    """Two different job classes declare the same JOB_TYPE."""


class InvalidJobValues(ValidationError):
    """The values for a new job do not pass its SCHEMA. ``messages`` maps each bad field to why."""

    def __init__(self, job_type: str, error: ValidationError) -> None:
        super().__init__(error.messages, data=error.data, valid_data=error.valid_data)
        self.job_type = job_type

    def __str__(self) -> str:
        return f"invalid values for job type {self.job_type!r}: {_describe(self.messages)}"


def _describe(messages: Any) -> str:
    if isinstance(messages, dict):
        parts = []
        for field, why in sorted(messages.items(), key=lambda kv: str(kv[0])):
            why_text = " ".join(why) if isinstance(why, list) else _describe(why)
            parts.append(f"{field}: {why_text}")
        return "; ".join(parts)
    if isinstance(messages, list):
        return " ".join(str(m) for m in messages)
    return str(messages)
