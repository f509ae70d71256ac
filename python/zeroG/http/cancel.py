"""``POST /cancel/{uuid}``: asking a job to stop."""

from __future__ import annotations

from zeroG.errors import DocumentNotFound
from zeroG.http.base import ApiError, BaseHandler, check_uuid
from zeroG.http.openapi_parts import job_operation, json_response, ref
from zeroG.jobs import cancel_async

__all__ = ["CancelHandler"]


class CancelHandler(BaseHandler):
    """``POST /cancel/{uuid}``: asks the job to stop. A queued job never starts; a running one
    stops at its next progress report or lease renewal. ``{"uuid", "status"}``."""

    OPENAPI = job_operation(
        "post", "cancelJob", "Cancel a job", json_response("The job and its status now.", ref("Cancelled"))
    )

    async def post(self, uuid: str) -> None:
        uuid = check_uuid(uuid, in_path=True)
        try:
            status = await cancel_async(uuid)
        except DocumentNotFound:
            raise ApiError(404, f"Could not find job {uuid}") from None
        self.write_json({"uuid": uuid, "status": status})
