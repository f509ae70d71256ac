"""The fleet over HTTP: ``GET /workers``, and drain, undrain or retire a worker or a whole host
(``POST /workers/{workerId}/{action}``, ``POST /hosts/{host}/{action}``), through the same
``WorkerManager`` as ``zerog workers``. Behind the API token like every route but /health."""

from __future__ import annotations

import asyncio
from typing import Any

from zeroG import config
from zeroG.http.base import ApiError, BaseHandler
from zeroG.http.openapi_parts import JsonSchema, json_response, operation, ref
from zeroG.mgmt import WorkerManager

__all__ = ["ACTIONS", "HostActionHandler", "WorkerActionHandler", "WorkersHandler", "live_workers"]

ACTIONS = ("drain", "undrain", "retire")
#: How long a live worker is given to answer (it answers within a second).
ANSWER_TIMEOUT = 2.5


def _manager(handler: BaseHandler) -> WorkerManager:
    return WorkerManager(queue_url=config.queue_url(), updatesPostfix=handler.settings.get("updates_postfix", ""))


async def live_workers(manager: WorkerManager, timeout: float = ANSWER_TIMEOUT) -> list[dict[str, Any]]:
    """Every live worker that answered: ``{"workerId", "host", "state", "retiring",
    "runningJobUuid", "mem"}``, by host then id. The manager's calls wait on the queue, so they
    run off the event loop."""
    await asyncio.to_thread(manager.refresh, timeout)
    return [{"host": host, **w} for host, ws in sorted(manager.workers_by_host().items()) for w in ws]


def _send(manager: WorkerManager, ids: list[str], action: str) -> None:
    if action == "undrain":
        manager.un_drain_workers(ids)
    else:
        manager.drain_workers(ids, retire=action == "retire")


def _path_param(name: str, description: str, schema: JsonSchema | None = None) -> JsonSchema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema or {"type": "string"},
        "description": description,
    }


_ACTION = _path_param("action", "drain, undrain or retire.", {"type": "string", "enum": list(ACTIONS)})


class WorkersHandler(BaseHandler):
    """``GET /workers``: ``{"workers": [...]}``, each live worker as it answered."""

    OPENAPI = {
        "get": operation(
            "getWorkers", "Every live worker", "fleet", {"200": json_response("The workers.", ref("Workers"))}
        )
    }

    async def get(self) -> None:
        self.write_json({"workers": await live_workers(_manager(self))})


class WorkerActionHandler(BaseHandler):
    """``POST /workers/{workerId}/{action}``: 404 for a worker that is not alive."""

    OPENAPI = {
        "post": operation(
            "steerWorker",
            "Drain, undrain or retire one worker",
            "fleet",
            {
                "200": json_response("The message was sent.", ref("Steered")),
                "404": json_response("No such worker.", ref("Error")),
            },
            parameters=[_path_param("worker_id", "zerog+$<host>+$<name>+$<pid>, URL-encoded."), _ACTION],
        )
    }

    async def post(self, worker_id: str, action: str) -> None:
        manager = _manager(self)
        if worker_id not in await asyncio.to_thread(manager.known_workers):
            raise ApiError(404, f"no live worker {worker_id} (GET /workers lists them)")
        await asyncio.to_thread(_send, manager, [worker_id], action)
        self.write_json({"action": action, "workers": [worker_id]})


class HostActionHandler(BaseHandler):
    """``POST /hosts/{host}/{action}``: every live worker on the host; 404 if it has none."""

    OPENAPI = {
        "post": operation(
            "steerHost",
            "Drain, undrain or retire every worker on a host",
            "fleet",
            {
                "200": json_response("The message was sent.", ref("Steered")),
                "404": json_response("No such host.", ref("Error")),
            },
            parameters=[_path_param("host", "The host part of its workers' ids."), _ACTION],
        )
    }

    async def post(self, host: str, action: str) -> None:
        manager = _manager(self)
        known = await asyncio.to_thread(manager.known_workers)
        ids = sorted(i for i, parts in known.items() if parts["host"] == host)
        if not ids:
            raise ApiError(404, f"no live worker on host {host!r} (GET /workers lists them)")
        await asyncio.to_thread(_send, manager, ids, action)
        self.write_json({"action": action, "workers": ids})
