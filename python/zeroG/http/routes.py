"""zeroG's routes: ``default_routes()`` is the one list of them, and the OpenAPI document is
built by walking it.

``GET /openapi.json`` describes that list, so its handler lives here, beside it: anywhere else
the list and the handler that describes it would import each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tornado.web

from zeroG import _zerog, registry
from zeroG.http.base import BaseHandler
from zeroG.http.cancel import CancelHandler
from zeroG.http.create import RunJobHandler
from zeroG.http.dashboard import OverviewHandler, UiHandler, UiRedirectHandler
from zeroG.http.fleet import ACTIONS, HostActionHandler, WorkerActionHandler, WorkersHandler
from zeroG.http.listing import JobsHandler
from zeroG.http.metrics import MetricsHandler
from zeroG.http.openapi import build_document
from zeroG.http.openapi_parts import json_response, operation
from zeroG.http.queue_actions import KickHandler, PeekHandler
from zeroG.http.read import DumpHandler, GetDataHandler, InfoHandler, ProgressHandler
from zeroG.http.run_again import RunAgainHandler
from zeroG.http.system import HealthHandler, QueuesHandler
from zeroG.http.watch import WatchHandler
from zeroG.jobs import BaseJob

__all__ = ["JOB_TYPE_PATT", "UUID_PATT", "OpenApiHandler", "Routes", "default_routes", "openapi_document"]

# The URL groups the original zeroG's handlers read their job type and uuid from.
JOB_TYPE_PATT = "(?P<jobtype>[^/]+)"
UUID_PATT = "(?P<uuid>[^/]+)"
TUBE_PATT = "(?P<tube>[^/]+)"
ACTION_PATT = f"(?P<action>{'|'.join(ACTIONS)})"

Routes = list[tuple[str, type[tornado.web.RequestHandler]]]


class OpenApiHandler(BaseHandler):
    """``GET /openapi.json``: the OpenAPI document of every route and job type."""

    OPENAPI = {
        "get": operation(
            "getOpenapi",
            "This OpenAPI document",
            "system",
            {"200": json_response("The OpenAPI 3.1 document.", {"type": "object"})},
        )
    }

    def get(self) -> None:
        classes = getattr(self.application, "job_classes", None) or registry.registered()
        self.write_json(openapi_document(classes, auth=bool(self.settings.get("api_token"))))


def default_routes() -> Routes:
    """Every route zeroG serves: the original's five, then the newer ones."""
    return [
        (f"/job/{JOB_TYPE_PATT}", RunJobHandler),
        (f"/progress/{UUID_PATT}", ProgressHandler),
        (f"/info/{UUID_PATT}", InfoHandler),
        (f"/data/{UUID_PATT}", GetDataHandler),
        (f"/dump/{UUID_PATT}", DumpHandler),
        ("/jobs", JobsHandler),
        (f"/cancel/{UUID_PATT}", CancelHandler),
        (f"/run-again/{UUID_PATT}", RunAgainHandler),
        (f"/watch/{UUID_PATT}", WatchHandler),
        ("/queues", QueuesHandler),
        (f"/queues/{TUBE_PATT}/kick", KickHandler),
        (f"/queues/{TUBE_PATT}/peek", PeekHandler),
        ("/workers", WorkersHandler),
        (f"/workers/(?P<worker_id>[^/]+)/{ACTION_PATT}", WorkerActionHandler),
        (f"/hosts/(?P<host>[^/]+)/{ACTION_PATT}", HostActionHandler),
        ("/health", HealthHandler),
        ("/metrics", MetricsHandler),
        ("/openapi.json", OpenApiHandler),
        ("/overview", OverviewHandler),
        # The dashboard: its page and files (not in the OpenAPI document: not an API).
        ("/ui", UiRedirectHandler),
        ("/ui/(?P<asset>[^/]*)", UiHandler),
    ]


def openapi_document(
    job_classes: Mapping[str, type[BaseJob]],
    *,
    title: str = "zeroG",
    version: str = _zerog.__version__,
    auth: bool = False,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``default_routes()`` serving ``job_classes`` ({job type:
    class}, as ``zeroG.registry.registered()`` gives). With ``auth`` every route but /health
    takes a bearer token. Everything in it is plain JSON: ``json.dumps`` takes it as it is."""
    return build_document(default_routes(), job_classes, title=title, version=version, auth=auth)
