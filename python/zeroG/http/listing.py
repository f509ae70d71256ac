"""``GET /jobs``: the store's jobs a page at a time, filtered by status and type."""

from __future__ import annotations

from zeroG import config
from zeroG.http.base import ApiError, BaseHandler
from zeroG.http.openapi_parts import STRING, json_response, operation, query, ref, response_ref

__all__ = ["MAX_PAGE", "JobsHandler"]

#: The largest ``limit`` a page may ask for: the handler refuses more, and the OpenAPI
#: document says so.
MAX_PAGE = 1000


class JobsHandler(BaseHandler):
    """``GET /jobs?status=&type=&limit=&cursor=``: a page of documents, oldest first, and the
    cursor of the next page (null on the last)."""

    OPENAPI = {
        "get": operation(
            "listJobs",
            "Jobs, a page at a time",
            "jobs",
            {"200": json_response("A page of job documents.", ref("JobList")), "400": response_ref("BadRequest")},
            parameters=[
                query("status", STRING, "Only jobs with this status (queued, running, done, ...)."),
                query("type", STRING, "Only jobs of this job type."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "At most this many jobs."),
                query("cursor", STRING, "Where to go on: the `next` of the previous page."),
            ],
        )
    }

    async def get(self) -> None:
        status = self.get_query_argument("status", None) or None
        job_type = self.get_query_argument("type", None) or None
        cursor = self.get_query_argument("cursor", None) or None
        raw_limit = self.get_query_argument("limit", "100")
        # isascii: "²".isdigit() is true, and int() refuses it.
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_PAGE:
            raise ApiError(400, f"limit must be a whole number from 1 to {MAX_PAGE}, not {raw_limit!r}")
        try:
            docs, next_cursor = await config.get_store().list_async(status, job_type, int(raw_limit), cursor)
        except ValueError as e:  # an unknown status, or a cursor this store never gave
            raise ApiError(400, str(e)) from None
        self.write_json({"jobs": docs, "next": next_cursor})
