"""``GET /queues`` and ``GET /health``: the state of the queue and of the server itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from zeroG import config
from zeroG.http.base import BaseHandler
from zeroG.http.openapi_parts import json_response, operation, ref
from zeroG.jobs import make_key

__all__ = ["COUNTS", "HealthHandler", "QueuesHandler", "tube_counts"]


#: What ``/queues`` gives per tube (the queue's stats also count its watchers, for the fleet).
COUNTS = ("ready", "reserved", "delayed", "buried")


async def tube_counts(queue: Any, keep: Callable[[str], bool] = lambda _tube: True) -> dict[str, dict[str, int]]:
    """Each tube the queue has that ``keep`` keeps, in name order: its entries by state
    (``COUNTS``). /queues, /overview and /metrics all read the queue this way."""
    tubes = sorted(t for t in await queue.list_tubes_async() if keep(t))
    stats = await asyncio.gather(*(queue.stats_tube_async(t) for t in tubes))
    return {s["name"]: {k: s[k] for k in COUNTS} for s in stats}


class QueuesHandler(BaseHandler):
    """``GET /queues``: ready, reserved, delayed and buried counts per tube."""

    OPENAPI = {
        "get": operation(
            "getQueues", "Job counts per tube", "system", {"200": json_response("Per tube.", ref("Queues"))}
        )
    }

    async def get(self) -> None:
        self.write_json({"tubes": await tube_counts(config.get_queue())})


class HealthHandler(BaseHandler):
    """``GET /health``: 200 if the store and the queue answer, else 503 naming which did not.
    Needs no token, so a load balancer can ask."""

    auth_required = False

    OPENAPI = {
        "get": operation(
            "getHealth", "Whether the server is up", "system", {"200": json_response("Up.", ref("Health"))}
        )
    }

    async def get(self) -> None:
        checks: dict[str, Callable[[], Awaitable[object]]] = {
            "store": lambda: config.get_store().get_async(make_key("00000000-0000-0000-0000-000000000000")),
            "queue": lambda: config.get_queue().list_tubes_async(),
        }
        report: dict[str, str] = {}
        for name, call in checks.items():
            try:
                await asyncio.wait_for(call(), timeout=float(self.settings.get("health_timeout", 5)))
                report[name] = "ok"
            except Exception as e:  # any failure is the answer, not an error of this handler
                report[name] = f"error: {type(e).__name__}: {e}"
        ok = all(v == "ok" for v in report.values())
        self.write_json({"status": "ok" if ok else "unavailable", **report}, 200 if ok else 503)
