"""``POST /cancel/{uuid}``: asking a job to stop."""

from __future__ import annotations

from zeroG.errors import DocumentNotFound
from zeroG.http.base import ApiError, BaseHandler, check_uuid
from zeroG.http.openapi_parts import NOT_FOUND, UUID_PARAM, json_response, operation, ref
from zeroG.jobs import cancel_async

__all__ = ["CancelHandler"]


class CancelHandler(BaseHandler):
    """``POST /cancel/{uuid}``: asks the job to stop. A queued job never starts; a running one
    stops at its next progress report or lease renewal. ``{"uuid", "status"}``."""

    OPENAPI = {
        "post": operation(
            "cancelJob",
            "Cancel a job",
            "jobs",
            {"200": json_response("The job and its status now.", ref("Cancelled")), **NOT_FOUND},
            parameters=[UUID_PARAM],
        )
    }

    async def post(self, uuid: str) -> None:
        check_uuid(uuid)
        try:
            status = await cancel_async(uuid)
        except DocumentNotFound:
            raise ApiError(404, f"Could not find job {uuid}") from None
        self.write_json({"uuid": uuid, "status": status})
