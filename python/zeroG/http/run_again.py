"""``POST /run-again/{uuid}``: a failed or cancelled job queued again (``zeroG.jobs.run_again``)."""

from __future__ import annotations

from zeroG.errors import DocumentNotFound
from zeroG.http.base import ApiError, BaseHandler, check_uuid
from zeroG.http.openapi_parts import job_operation, json_response
from zeroG.jobs import run_again_async

__all__ = ["RunAgainHandler"]


class RunAgainHandler(BaseHandler):
    """``POST /run-again/{uuid}``: ``{"uuid", "queueJobId"}``; 409 for a job that is not failed or
    cancelled, 404 for an unknown one."""

    OPENAPI = job_operation(
        "post",
        "runJobAgain",
        "Run a failed or cancelled job again",
        json_response(
            "The job is queued again.",
            {"type": "object", "properties": {"uuid": {"type": "string"}, "queueJobId": {"type": "integer"}}},
        ),
    )

    async def post(self, uuid: str) -> None:
        uuid = check_uuid(uuid, in_path=True)
        try:
            queue_job_id = await run_again_async(uuid)
        except DocumentNotFound:
            raise ApiError(404, f"Could not find job {uuid}") from None
        except ValueError as e:  # not failed or cancelled
            raise ApiError(409, str(e)) from None
        self.write_json({"uuid": uuid, "queueJobId": queue_job_id})
