"""The fleet over HTTP: ``GET /workers``, and drain, undrain or retire a worker or a whole host
(``POST /workers/{workerId}/{action}``, ``POST /hosts/{host}/{action}``), through the same
``WorkerManager`` as ``zerog workers``. Behind the API token like every route but /health."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from zeroG import config
from zeroG.http.base import ApiError, BaseHandler
from zeroG.http.openapi_parts import JsonSchema, json_response, operation, ref
from zeroG.mgmt import WorkerManager
from zeroG.mgmt.manager import ANSWER_TIMEOUT, STEERING

__all__ = ["ACTIONS", "HostActionHandler", "WorkerActionHandler", "WorkersHandler", "live_workers", "manager_for"]

ACTIONS = STEERING


def manager_for(settings: Mapping[str, Any]) -> WorkerManager:
    """A manager of the fleet on this server's queue (its ``updates_postfix`` setting)."""
    return WorkerManager(queue_url=config.queue_url(), updatesPostfix=settings.get("updates_postfix", ""))


async def live_workers(manager: WorkerManager, timeout: float = ANSWER_TIMEOUT) -> list[dict[str, Any]]:
    """Every live worker that answered: ``{"workerId", "host", "state", "retiring",
    "runningJobUuid", "mem"}``, by host then id. The manager's calls wait on the queue, so they
    run off the event loop."""
    await asyncio.to_thread(manager.refresh, timeout)
    return [{"host": host, **w} for host, ws in sorted(manager.workers_by_host().items()) for w in ws]


def _path_param(name: str, description: str, schema: JsonSchema | None = None) -> JsonSchema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema or {"type": "string"},
        "description": description,
    }


def _steer_operation(op_id: str, summary: str, target: JsonSchema, missing: str) -> dict[str, JsonSchema]:
    action = _path_param("action", "drain, undrain or retire.", {"type": "string", "enum": list(ACTIONS)})
    responses = {
        "200": json_response("The message was sent.", ref("Steered")),
        "404": json_response(missing, ref("Error")),
    }
    return {"post": operation(op_id, summary, "fleet", responses, parameters=[target, action])}


class WorkersHandler(BaseHandler):
    """``GET /workers``: ``{"workers": [...]}``, each live worker as it answered."""

    OPENAPI = {
        "get": operation(
            "getWorkers", "Every live worker", "fleet", {"200": json_response("The workers.", ref("Workers"))}
        )
    }

    async def get(self) -> None:
        self.write_json({"workers": await live_workers(manager_for(self.settings))})


class _SteerHandler(BaseHandler):
    """Sends an action to the live workers a route names; 404 when it names none."""

    #: What the route names, for the 404's message.
    WHAT: ClassVar[str]

    def targets(self, known: dict[str, dict[str, Any]], name: str) -> list[str]:
        raise NotImplementedError

    async def post(self, action: str, **named: str) -> None:
        # The route's one other group: the worker's id, or the host.
        (name,) = named.values()
        manager = manager_for(self.settings)
        ids = self.targets(await asyncio.to_thread(manager.known_workers), name)
        if not ids:
            raise ApiError(404, f"no live worker {self.WHAT.format(name)} (GET /workers lists them)")
        await asyncio.to_thread(manager.steer, ids, action)
        self.write_json({"action": action, "workers": ids})


class WorkerActionHandler(_SteerHandler):
    """``POST /workers/{workerId}/{action}``: 404 for a worker that is not alive."""

    WHAT = "{}"
    OPENAPI = _steer_operation(
        "steerWorker",
        "Drain, undrain or retire one worker",
        _path_param("worker_id", "zerog+$<host>+$<name>+$<pid>, URL-encoded."),
        "No such worker.",
    )

    def targets(self, known: dict[str, dict[str, Any]], name: str) -> list[str]:
        return [name] if name in known else []


class HostActionHandler(_SteerHandler):
    """``POST /hosts/{host}/{action}``: every live worker on the host; 404 if it has none."""

    WHAT = "on host {!r}"
    OPENAPI = _steer_operation(
        "steerHost",
        "Drain, undrain or retire every worker on a host",
        _path_param("host", "The host part of its workers' ids."),
        "No such host.",
    )

    def targets(self, known: dict[str, dict[str, Any]], name: str) -> list[str]:
        return sorted(i for i, parts in known.items() if parts["host"] == name)
