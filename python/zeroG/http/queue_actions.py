"""Acting on one tube over HTTP, as ``zerog kick`` and ``zerog peek`` do in the terminal:
``POST /queues/{tube}/kick`` and ``GET /queues/{tube}/peek``. The dashboard's queues page calls
them. The queue's calls wait on the network (beanstalkd) or a file, so they run off the event
loop."""

from __future__ import annotations

import asyncio
from typing import Any

from zeroG import _zerog, config
from zeroG.http.base import ApiError, BaseHandler
from zeroG.http.openapi_parts import json_response, operation, query, response_ref

__all__ = ["KickHandler", "PeekHandler", "PEEK_STATES"]

#: What a peek can look at, and the queue's call for each.
PEEK_STATES = ("ready", "delayed", "buried")

_TUBE_PARAM = {"name": "tube", "in": "path", "required": True, "schema": {"type": "string"}, "description": "A tube."}
_ENTRY = {
    "type": "object",
    "required": ["id", "body"],
    "properties": {"id": {"type": "integer"}, "body": {"type": "string"}, "stats": {"type": "object"}},
}

#: A bad tube name or argument (400), or no such tube or entry (404).
_REFUSED = {"400": response_ref("BadRequest"), "404": response_ref("NotFound")}


async def _known_tube(tube: str) -> Any:
    """The queue, once ``tube`` is a valid name of a tube it has (400, else 404): beanstalkd
    kicks 0 and peeks nothing in a tube nobody uses, so a typo would look like an empty tube."""
    try:
        _zerog.validate_tube_name(tube)
    except _zerog.InvalidTubeName as e:
        raise ApiError(400, str(e)) from None
    queue = config.get_queue()
    if tube not in await queue.list_tubes_async():
        raise ApiError(404, f"no tube named {tube!r} (GET /queues lists them)")
    return queue


class KickHandler(BaseHandler):
    """``POST /queues/{tube}/kick?n=N``: returns up to N (default 1) buried entries to ready (or,
    when none is buried, delayed ones, as beanstalkd's kick does). ``{"tube", "kicked"}``."""

    OPENAPI = {
        "post": operation(
            "kickTube",
            "Return buried (else delayed) entries to ready",
            "system",
            {
                "200": json_response(
                    "How many were kicked.",
                    {"type": "object", "properties": {"tube": {"type": "string"}, "kicked": {"type": "integer"}}},
                ),
                **_REFUSED,
            },
            parameters=[
                _TUBE_PARAM,
                query("n", {"type": "integer", "minimum": 1}, "At most this many entries (default 1)."),
            ],
        )
    }

    async def post(self, tube: str) -> None:
        raw = self.get_query_argument("n", "1")
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise ApiError(400, f"n must be a whole number of at least 1, not {raw!r}")
        queue = await _known_tube(tube)
        kicked = await asyncio.to_thread(queue.kick, tube, min(int(raw), 1 << 31))
        self.write_json({"tube": tube, "kicked": kicked})


class PeekHandler(BaseHandler):
    """``GET /queues/{tube}/peek?state=ready|delayed|buried``: the next entry in that state (ready
    by default), its body as text and its stats; 404 when there is none."""

    OPENAPI = {
        "get": operation(
            "peekTube",
            "The next entry of a tube in a state",
            "system",
            {"200": json_response("The entry.", _ENTRY), **_REFUSED},
            parameters=[
                _TUBE_PARAM,
                query(
                    "state", {"type": "string", "enum": list(PEEK_STATES)}, "ready (the default), delayed or buried."
                ),
            ],
        )
    }

    async def get(self, tube: str) -> None:
        state = self.get_query_argument("state", "ready")
        if state not in PEEK_STATES:
            raise ApiError(400, f"state must be one of {', '.join(PEEK_STATES)}, not {state!r}")
        queue = await _known_tube(tube)
        found = await asyncio.to_thread(getattr(queue, f"peek_{state}"), tube)
        if found is None:
            raise ApiError(404, f"no {state} entry in {tube}")
        qid, body = found
        try:
            stats = await asyncio.to_thread(queue.stats_job, qid)
        except _zerog.QueueJobNotFound:
            stats = None  # gone between the peek and the stats
        self.write_json({"id": qid, "body": body.decode("utf-8", errors="replace"), "stats": stats})
