"""The REST handlers under the import path the original zeroG documented, and that the README
shows: ``from zeroG.handlers import JOB_TYPE_PATT, UUID_PATT, ProgressHandler, RunJobHandler``.
They live in ``zeroG.http``; this module only names them."""

from zeroG.http.base import DEFAULT_MAX_BODY, ApiError, BaseHandler, NotFoundHandler, check_uuid
from zeroG.http.cancel import CancelHandler
from zeroG.http.create import RunJobHandler
from zeroG.http.listing import JobsHandler
from zeroG.http.metrics import MetricsHandler
from zeroG.http.read import DumpHandler, GetDataHandler, InfoHandler, ProgressHandler, UuidHandler
from zeroG.http.routes import JOB_TYPE_PATT, UUID_PATT, OpenApiHandler
from zeroG.http.system import HealthHandler, QueuesHandler
from zeroG.http.watch import WatchHandler

__all__ = [
    "DEFAULT_MAX_BODY",
    "JOB_TYPE_PATT",
    "UUID_PATT",
    "ApiError",
    "BaseHandler",
    "CancelHandler",
    "DumpHandler",
    "GetDataHandler",
    "HealthHandler",
    "InfoHandler",
    "JobsHandler",
    "MetricsHandler",
    "NotFoundHandler",
    "OpenApiHandler",
    "ProgressHandler",
    "QueuesHandler",
    "RunJobHandler",
    "UuidHandler",
    "WatchHandler",
    "check_uuid",
]
