"""What ``GET /watch/{uuid}`` streams: a job's changes as Server-Sent Events.

The store has no change feed that reaches across processes (the embedded SQLite file has none,
and workers write from their own processes), so the server reads the document at an interval
and sends what changed since the last read. An unchanged document costs one indexed read and no
bytes on the wire: the CAS tells whether anything changed at all.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from tornado.iostream import StreamClosedError

from zeroG import config
from zeroG.http.base import BaseHandler, check_uuid
from zeroG.http.openapi_parts import job_operation, text_response
from zeroG.jobs import LOG_LISTS, document_finished, document_progress, make_key

__all__ = ["WatchHandler", "changes", "sse"]

#: A comment line this often keeps an idle stream open through proxies that close silent ones.
KEEPALIVE_SECONDS = 15.0

# Each log list and the SSE event name its new entries are sent as.
LOGS = tuple(LOG_LISTS.items())


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event: its name and its data as one line of JSON."""
    return f"event: {event}\ndata: {json.dumps(data, allow_nan=False)}\n\n"


def _progress(doc: dict[str, Any]) -> dict[str, Any]:
    return {**document_progress(doc), "status": doc.get("status")}


async def changes(store: Any, key: str, doc: dict[str, Any], cas: int, interval: float) -> AsyncIterator[str]:
    """The events for the document under ``key``, starting from ``doc`` as read with ``cas``:
    first its whole state (progress and every log entry so far), then each change, and
    ``end`` (or ``gone``) last."""
    last_progress: dict[str, Any] | None = None
    sent = {name: 0 for name, _ in LOGS}
    quiet_since = time.monotonic()
    while True:
        out: list[str] = []
        # The log entries first: they happened before the progress that this read shows (a
        # job's last event comes before its final "done").
        for name, event in LOGS:
            entries = doc.get(name) or []
            # The lists only grow; if one shrank (rewritten by hand), start over on it.
            if len(entries) < sent[name]:
                sent[name] = 0
            out.extend(sse(event, entry) for entry in entries[sent[name] :])
            sent[name] = len(entries)
        progress = _progress(doc)
        if progress != last_progress:
            out.append(sse("progress", progress))
            last_progress = progress
        if document_finished(doc):
            out.append(sse("end", progress))
            yield "".join(out)
            return
        if out:
            quiet_since = time.monotonic()
            yield "".join(out)
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keepalive\n\n"
        while True:
            await asyncio.sleep(interval)
            found = await store.get_async(key)
            if found is None:
                yield sse("gone", {"key": key})
                return
            if found[1] != cas:
                doc, cas = found
                break
            if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"


class WatchHandler(BaseHandler):
    """``GET /watch/{uuid}``: Server-Sent Events for every change until the job ends.

    Events: ``progress`` (completeness, result, status) whenever one of them changes, ``event``,
    ``warning`` and ``error`` for each new log entry, and ``end`` when the job is finished (or
    ``gone`` if its document is deleted); then the stream closes. The server reads the document
    every ``watch_interval`` seconds (0.25 by default) and sends only what changed, so the
    client never polls; a comment line every 15 s keeps idle connections open through proxies.
    """

    OPENAPI = job_operation(
        "get",
        "watchJob",
        "Follow a job as Server-Sent Events",
        text_response("A stream of Server-Sent Events about the job.", "text/event-stream"),
    )

    async def head(self, uuid: str) -> None:
        """The stream's headers, once the job is known: a HEAD does not wait for the job to end."""
        await self.load_document(uuid)
        self._stream_headers()
        self.finish()

    def _stream_headers(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx: pass events on at once

    async def get(self, uuid: str) -> None:
        uuid = check_uuid(uuid, in_path=True)
        doc, cas = await self.load_document(uuid)
        self._stream_headers()
        interval = float(self.settings.get("watch_interval", 0.25))
        # A client that goes away is noticed at once (on_connection_close cancels the loop),
        # not at the next write, which for a quiet job is up to 15 s later.
        self._watching = asyncio.current_task()
        try:
            async for chunk in changes(config.get_store(), make_key(uuid), doc, cas, interval):
                self.write(chunk)
                await self.flush()
        except (StreamClosedError, asyncio.CancelledError):
            return  # the client went away
        self.finish()

    def on_connection_close(self) -> None:
        task = getattr(self, "_watching", None)
        if task is not None:
            task.cancel()
